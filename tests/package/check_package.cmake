# The package_consumer test: installs the client component of the build tree into a fresh
# prefix, then configures, builds and runs tests/package/consumer against it, as another
# project would (find_package(desfired CONFIG REQUIRED)).
#
#   cmake -DBUILD_DIR=<desfired build> -DSOURCE_DIR=<consumer source> -DWORK_DIR=<scratch>
#         [-DLAUNCHER=ccache] -P check_package.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_package.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component client)
foreach(f lib/cmake/desfired/desfiredConfig.cmake lib/cmake/desfired/desfiredConfigVersion.cmake
          include/desfired/client/desfired_client.h
          include/desfired/desfired/v1/card_mock.grpc.pb.h
          share/desfired/proto/desfired/v1/card.proto)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the install has no ${f}")
  endif()
endforeach()

set(launcher)
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run("configure the consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix} ${launcher})
run("build the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 1)
run("run the consumer" ${WORK_DIR}/build/consumer)
message(STATUS "${last_output}")
