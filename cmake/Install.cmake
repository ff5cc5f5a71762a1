# Installation: the C++ client package and the programs.
#
# Components:
#   client   the client library and what it links (static), its headers, the generated
#            proto headers (with the gMock stubs), the .proto files, and the CMake package
#            config, so that another project can
#              find_package(desfired CONFIG REQUIRED)
#              target_link_libraries(app PRIVATE desfired::client)   # desfired::proto too
#   runtime  desfired, desfirectl, desfired-health-probe and desfire-sim.
#
# Layout under the prefix:
#   include/desfired/   the include root of the package: "client/desfired_client.h",
#                       "desfired/v1/card.grpc.pb.h", "desfired/v1/card_mock.grpc.pb.h",
#                       "core/apdu/status_payload.h" (GetReason, with
#                       "core/util/status_reason.h"), "proto/convert/status_convert.h"
#                       (FromGrpcStatus), "google/rpc/status.pb.h"
#                       (kept under include/desfired/ so that they never clash with another
#                       copy of the google.rpc protos)
#   lib/                libdesfired_client.a and the libraries it needs
#   lib/cmake/desfired/ desfiredConfig.cmake, desfiredConfigVersion.cmake, desfiredTargets.cmake
#   share/desfired/proto/  the API's .proto files (for clients in other languages)
#   bin/                the programs
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DESFIRED_INCLUDE_ROOT ${CMAKE_INSTALL_INCLUDEDIR}/desfired)
set(DESFIRED_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/desfired)

# Exported names: desfired::client, desfired::proto; the libraries the client links
# statically come along as desfired::status_convert, desfired::apdu, desfired::crypto and
# desfired::util.
set_target_properties(desfired_client PROPERTIES EXPORT_NAME client)
set_target_properties(desfired_proto PROPERTIES EXPORT_NAME proto)
set_target_properties(desfired_status_convert PROPERTIES EXPORT_NAME status_convert)
set_target_properties(desfired_apdu PROPERTIES EXPORT_NAME apdu)
set_target_properties(desfired_crypto PROPERTIES EXPORT_NAME crypto)
set_target_properties(desfired_util PROPERTIES EXPORT_NAME util)

install(TARGETS desfired_client desfired_proto desfired_status_convert desfired_apdu
                desfired_crypto desfired_util
        EXPORT desfiredTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client
        INCLUDES DESTINATION ${DESFIRED_INCLUDE_ROOT})

install(FILES client/desfired_client.h DESTINATION ${DESFIRED_INCLUDE_ROOT}/client
        COMPONENT client)
install(FILES core/apdu/status_payload.h DESTINATION ${DESFIRED_INCLUDE_ROOT}/core/apdu
        COMPONENT client)
install(FILES proto/convert/status_convert.h
        DESTINATION ${DESFIRED_INCLUDE_ROOT}/proto/convert COMPONENT client)
install(FILES core/util/status_reason.h DESTINATION ${DESFIRED_INCLUDE_ROOT}/core/util
        COMPONENT client)
# Every generated header of proto/ (messages, stubs, mocks); not the scratch mock/ folder.
install(DIRECTORY ${PROJECT_BINARY_DIR}/proto/ DESTINATION ${DESFIRED_INCLUDE_ROOT}
        COMPONENT client
        FILES_MATCHING PATTERN "*.pb.h"
        PATTERN "mock" EXCLUDE
        PATTERN "CMakeFiles" EXCLUDE)
install(DIRECTORY proto/desfired proto/google proto/grpc
        DESTINATION ${CMAKE_INSTALL_DATADIR}/desfired/proto COMPONENT client
        FILES_MATCHING PATTERN "*.proto")

install(EXPORT desfiredTargets NAMESPACE desfired:: DESTINATION ${DESFIRED_CMAKE_DIR}
        COMPONENT client)
configure_package_config_file(cmake/desfiredConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/desfiredConfig.cmake
                              INSTALL_DESTINATION ${DESFIRED_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/desfiredConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/desfiredConfig.cmake
              ${PROJECT_BINARY_DIR}/desfiredConfigVersion.cmake
        DESTINATION ${DESFIRED_CMAKE_DIR} COMPONENT client)

install(TARGETS desfired desfirectl desfired-health-probe desfire-sim
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
