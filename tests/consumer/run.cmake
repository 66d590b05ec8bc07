# Builds and runs a consumer project of sockit, in one of two ways (MODE):
#   install       installs the build tree BUILD_DIR to PREFIX, then builds tests/consumer,
#                 which finds it with find_package;
#   subdirectory  builds tests/consumer/subdirectory, which adds the sockit source tree
#                 SOCKIT_SOURCE with add_subdirectory (a Debug build: only linking matters,
#                 and -O0 is quicker to compile; LAUNCHER, e.g. ccache, is passed on).
if(NOT MODE)
  set(MODE install)
endif()
file(REMOVE_RECURSE ${WORK})
set(configure_args -G Ninja -DCMAKE_CXX_COMPILER=${CXX})
if(LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}
                  RESULT_VARIABLE rc OUTPUT_QUIET)
  if(rc)
    message(FATAL_ERROR "install failed: ${rc}")
  endif()
  list(APPEND configure_args -S ${SOURCE} -DCMAKE_PREFIX_PATH=${PREFIX})
elseif(MODE STREQUAL "subdirectory")
  list(APPEND configure_args -S ${SOURCE}/subdirectory -DSOCKIT_SOURCE=${SOCKIT_SOURCE}
       -DCMAKE_BUILD_TYPE=Debug)
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} ${configure_args} -B ${WORK} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer configure failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK} --parallel 2 RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer build failed: ${rc}")
endif()
execute_process(COMMAND ${WORK}/consumer OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(rc OR NOT out STREQUAL "tcp://[::1]:80\n")
  message(FATAL_ERROR "consumer run failed: rc=${rc} out='${out}'")
endif()
message(STATUS "${MODE} consumer printed ${out}")
