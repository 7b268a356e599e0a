# `cmake --install BUILD [--prefix P] [--strip]`: the daemon, the sample
# configuration, the systemd unit and the nginx site file.
#
#   P/bin/wsrelay, P/bin/wsrelay-publish
#   SYSCONFDIR/wsrelay/wsrelay.toml           (/etc/wsrelay with P=/usr, else P/etc/wsrelay)
#   WSRELAY_SYSTEMD_UNIT_DIR/wsrelay.service  (P/lib/systemd/system)
#   P/share/wsrelay/nginx/wsrelay.conf        (to copy into /etc/nginx/sites-available)
#
# The unit and the nginx file in config/ name the default prefix's paths
# (/usr/local/bin/wsrelay, /usr/local/etc/wsrelay); the installed unit names
# the paths of this install.
include(GNUInstallDirs)

set(WSRELAY_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
    CACHE PATH "Where the systemd unit is installed")

install(TARGETS wsrelay wsrelay-publish RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# FULL: with the prefix /usr, GNUInstallDirs puts the configuration in /etc.
install(FILES ${PROJECT_SOURCE_DIR}/config/wsrelay.toml
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/wsrelay)
install(FILES ${PROJECT_SOURCE_DIR}/config/nginx/wsrelay.conf
        DESTINATION ${CMAKE_INSTALL_DATADIR}/wsrelay/nginx)

file(READ ${PROJECT_SOURCE_DIR}/config/systemd/wsrelay.service WSRELAY_UNIT)
string(REPLACE "/usr/local/bin/wsrelay" "${CMAKE_INSTALL_FULL_BINDIR}/wsrelay" WSRELAY_UNIT
               "${WSRELAY_UNIT}")
string(REPLACE "/usr/local/etc/wsrelay" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/wsrelay" WSRELAY_UNIT
               "${WSRELAY_UNIT}")
file(WRITE ${PROJECT_BINARY_DIR}/install/wsrelay.service "${WSRELAY_UNIT}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/config/systemd/wsrelay.service)
install(FILES ${PROJECT_BINARY_DIR}/install/wsrelay.service DESTINATION ${WSRELAY_SYSTEMD_UNIT_DIR})
