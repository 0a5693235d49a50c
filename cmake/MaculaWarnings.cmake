# SPDX-License-Identifier: Apache-2.0
# Build flags of the project's own targets (the library's objects, tools,
# tests, benchmarks). Every target links macula_build_flags PRIVATE, so
# none of this reaches a consumer of macula::shared / macula::static.
add_library(macula_build_flags INTERFACE)
target_compile_definitions(macula_build_flags INTERFACE _GNU_SOURCE)
# Warnings are the project's policy, applied only when it is built on its
# own: under add_subdirectory() the parent's compiler may warn differently
# and the parent decides what it wants to see.
if(PROJECT_IS_TOP_LEVEL)
  target_compile_options(macula_build_flags INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wpointer-arith -Wcast-qual
    -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
    -Wimplicit-fallthrough -Wundef)
  if(MACULA_WERROR)
    target_compile_options(macula_build_flags INTERFACE -Werror)
  endif()
endif()
if(MACULA_SANITIZE)
  target_compile_options(macula_build_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(macula_build_flags INTERFACE -fsanitize=address,undefined)
endif()
# Fuzz build (tests/fuzz): every target gets coverage instrumentation and
# the sanitizers, so that the library code the fuzzers reach is both
# guided and checked; the fuzz targets themselves link libFuzzer.
if(MACULA_FUZZ)
  target_compile_options(macula_build_flags INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(macula_build_flags INTERFACE -fsanitize=address,undefined)
endif()
