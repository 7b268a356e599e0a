from django.urls import path

from . import views

app_name = "wsrelay_bridge"

urlpatterns = [
    path("auth/", views.authorize, name="authorize"),
]
