from django.urls import include, path

urlpatterns = [
    path("wsrelay/", include("wsrelay_bridge.urls")),
]
