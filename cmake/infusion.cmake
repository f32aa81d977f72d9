# Shared helpers for infusion's targets.

set(INFUSION_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)

# One precompiled header for every LibTorch target: <torch/torch.h> costs ~20 s per translation
# unit; compiled once here and reused by every target that calls infusion_use_torch().
add_library(infusion_torch_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/torch_pch.cc)
target_link_libraries(infusion_torch_pch PUBLIC ${TORCH_LIBRARIES} Threads::Threads)
# -pthread on the PCH and on every torch TU: a TU whose _REENTRANT differs from the PCH's cannot
# use it, and gRPC/Abseil targets get -pthread from their own flags. (With glibc's built-in
# pthreads, Threads::Threads adds no flag, so it must be said here.)
target_compile_options(infusion_torch_pch PRIVATE -pthread)
target_precompile_headers(infusion_torch_pch PRIVATE <torch/torch.h>)

# infusion_use_torch(target): links LibTorch and reuses the shared precompiled header.
function(infusion_use_torch target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES} Threads::Threads)
  target_compile_options(${target} PRIVATE -pthread)  # matches the PCH (above)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    # The shared PCH is built with -fPIC; GCC refuses it for -fPIE objects, so executables
    # compile with -fPIC too (they still link as PIE).
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  target_precompile_headers(${target} REUSE_FROM infusion_torch_pch)
endfunction()

# infusion_library(name SOURCES ... DEPS ... [TORCH]): a component library.
function(infusion_library name)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${INFUSION_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  if(ARG_TORCH)
    infusion_use_torch(${name})
  endif()
endfunction()

# infusion_test(name SOURCES ... DEPS ... [TORCH] [LABELS ...]): a GoogleTest binary run by ctest.
function(infusion_test name)
  cmake_parse_arguments(ARG "TORCH" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${INFUSION_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(ARG_TORCH)
    infusion_use_torch(${name})
  endif()
  if(INFUSION_SANITIZE MATCHES "thread")
    # Debian's Abseil is uninstrumented: tell TSan what its mutexes order (the file says how).
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tools/sanitizers/tsan_absl_sync.cc)
    target_link_options(${name} PRIVATE -rdynamic)
    target_link_libraries(${name} PRIVATE ${CMAKE_DL_LIBS})
  endif()
  target_compile_definitions(${name} PRIVATE
    INFUSION_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    INFUSION_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  if(INFUSION_SANITIZE)
    math(EXPR ARG_TIMEOUT "${ARG_TIMEOUT} * 4")  # instrumented code runs 2-10x slower
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=PASSIVE")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# Python for the tests that use Debian's python3-numpy / python3-grpcio: the system interpreter,
# not whatever python3 comes first on PATH (a pyenv one would lack those packages).
find_program(INFUSION_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT INFUSION_PYTHON)
  find_program(INFUSION_PYTHON NAMES python3 REQUIRED)
endif()
