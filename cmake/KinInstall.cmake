# `cmake --install` produces a package that `find_package(kin)` finds.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS kin_runtime kin_actors kin EXPORT kinTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY "${PROJECT_SOURCE_DIR}/runtime/include/" "${PROJECT_SOURCE_DIR}/actors/include/"
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT kinTargets NAMESPACE kin:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kin)
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/kinConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/kinConfig.cmake" INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kin)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/kinConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/kinConfig.cmake" "${PROJECT_BINARY_DIR}/kinConfigVersion.cmake"
        "${PROJECT_SOURCE_DIR}/cmake/KinDependencies.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kin)
