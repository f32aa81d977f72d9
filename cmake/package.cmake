# The Debian package: `cpack -G DEB` in the build folder (after building
# INFUSION_INSTALLED_TARGETS) writes infusion_VERSION_ARCH.deb of the install tree
# (cmake/install.cmake). scripts/package.sh does all of it and tests the result.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME infusion)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "infusion")
set(CPACK_PACKAGE_CONTACT "infusion maintainers <maintainers@users.noreply.r-seed-3abb2e35.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "inference server and trainer for Transfusion models (text and images, one transformer)")
set(CPACK_PACKAGE_DESCRIPTION
    "infusion serves Transfusion models - text by tokens, images by diffusion, one transformer - \
over gRPC and an OpenAI-compatible HTTP API with a continuous-batching scheduler, and trains \
them. The package holds infusion-server (a systemd service), the infusion command-line client, \
infusion-bench, infusion-eval, infusion-train, infusion-tool and the bundled models.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # infusion_0.2.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime packages only, never -dev: deploy/debian/depends (tests/deploy checks it against the
# libraries the binaries link).
file(STRINGS ${PROJECT_SOURCE_DIR}/deploy/debian/depends INFUSION_DEB_DEPENDS REGEX "^[a-z0-9]")
list(JOIN INFUSION_DEB_DEPENDS ", " CPACK_DEBIAN_PACKAGE_DEPENDS)
# infusion-train's tokenizer training (spm_train) and its text corpus (`bible`).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "sentencepiece, bible-kjv")

# Maintainer scripts (the service user, systemd) and the conffiles under SYSCONFDIR.
file(WRITE ${PROJECT_BINARY_DIR}/deploy/conffiles
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/infusion-server\n"
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/infusion/infusion-server.flags\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm
    ${PROJECT_BINARY_DIR}/deploy/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)
include(CPack)
