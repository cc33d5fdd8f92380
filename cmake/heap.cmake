# SPDX-License-Identifier: MIT
# pk_heap: a protected heap for secrets (include/pkeys/heap.h).
target_sources(pkeys_objects PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src/heap/heap.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/heap/heap_flush.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/heap/heap_pages.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/heap/heap_check.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/heap/heap_classes.c)

add_executable(token_service examples/token_service.c)
target_link_libraries(token_service PRIVATE pkeys)

# The benchmark compares with libsodium's guarded allocations when
# Debian's libsodium-dev is installed, and says so when it is not.
if(BUILD_TESTING)
add_executable(bench_heap bench/bench_heap.c)
target_link_libraries(bench_heap PRIVATE pkeys)
find_path(SODIUM_INCLUDE_DIR sodium.h)
find_library(SODIUM_LIBRARY sodium)
if(SODIUM_INCLUDE_DIR AND SODIUM_LIBRARY)
  target_compile_definitions(bench_heap PRIVATE HAVE_SODIUM)
  target_include_directories(bench_heap PRIVATE ${SODIUM_INCLUDE_DIR})
  target_link_libraries(bench_heap PRIVATE ${SODIUM_LIBRARY})
else()
  message(STATUS "libsodium not found: bench_heap runs without its column")
endif()
endif()
