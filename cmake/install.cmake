# What `cmake --install` and the Debian package (cmake/package.cmake) put where (GNUInstallDirs):
#   bin/                               infusion-server, infusion, infusion-bench, infusion-eval,
#                                      infusion-train, infusion-tool
#   share/infusion/models/{shapes,emoji}   the bundled models, with their licences; the server's
#                                      default model is share/infusion/models/shapes
#   share/infusion/{configs,third_party/taef2}   training configs and the codec weights they name
#                                      (run infusion-train from share/infusion)
#   share/doc/infusion/                README, CHANGELOG, docs/*.md
#   lib/systemd/system/infusion-server.service, SYSCONFDIR/infusion/infusion-server.flags,
#   SYSCONFDIR/default/infusion-server    the service (deploy/systemd/)
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for a system install: SYSCONFDIR is then /etc.
include(GNUInstallDirs)

# `ninja install` and `cpack` do not build the whole tree (tests included) first: build the
# installed targets (INFUSION_INSTALLED_TARGETS, set in the top-level CMakeLists.txt;
# scripts/package.sh does) and then install.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS ${INFUSION_INSTALLED_TARGETS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(INFUSION_DATA_DIR ${CMAKE_INSTALL_DATADIR}/infusion)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/shapes ${PROJECT_SOURCE_DIR}/models/emoji
        DESTINATION ${INFUSION_DATA_DIR}/models)
install(FILES ${PROJECT_SOURCE_DIR}/models/README.md DESTINATION ${INFUSION_DATA_DIR}/models)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs DESTINATION ${INFUSION_DATA_DIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/third_party/taef2
        DESTINATION ${INFUSION_DATA_DIR}/third_party)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB INFUSION_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${INFUSION_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The systemd unit names the installed paths; the two files under SYSCONFDIR are the operator's
# (Debian conffiles: an upgrade keeps their edits).
set(BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
set(DATADIR ${CMAKE_INSTALL_FULL_DATADIR})
set(DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})
configure_file(${PROJECT_SOURCE_DIR}/deploy/systemd/infusion-server.service.in
               ${PROJECT_BINARY_DIR}/deploy/infusion-server.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/deploy/infusion-server.service
        DESTINATION lib/systemd/system)  # not LIBDIR: multiarch on Debian
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/infusion-server.flags
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/infusion)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/infusion-server.default
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default RENAME infusion-server)
