# SPDX-License-Identifier: Apache-2.0
# Warnings and sanitizer flags shared by every target of the project.
add_library(macula_build_flags INTERFACE)
target_compile_options(macula_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wpointer-arith -Wcast-qual
  -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
  -Wimplicit-fallthrough -Wundef)
if(MACULA_WERROR)
  target_compile_options(macula_build_flags INTERFACE -Werror)
endif()
target_compile_definitions(macula_build_flags INTERFACE _GNU_SOURCE)
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
