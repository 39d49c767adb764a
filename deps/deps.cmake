# Finds the Debian-packaged dependencies and builds llhttp from the C sources
# that node-llhttp installs (nothing third-party lives in this repository).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl>=7.88)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl>=3.0)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson>=1.7)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis>=0.14)

set(LLHTTP_SRC_DIR "/usr/share/llhttp" CACHE PATH "llhttp C sources (Debian node-llhttp)")
set(LLHTTP_INCLUDE_DIR "/usr/share/include/llhttp" CACHE PATH "llhttp header (Debian node-llhttp)")
foreach(f api.c http.c llhttp.c)
    if(NOT EXISTS "${LLHTTP_SRC_DIR}/${f}")
        message(FATAL_ERROR "${LLHTTP_SRC_DIR}/${f} not found: run deps/install.sh (package node-llhttp)")
    endif()
endforeach()
if(NOT EXISTS "${LLHTTP_INCLUDE_DIR}/llhttp.h")
    message(FATAL_ERROR "${LLHTTP_INCLUDE_DIR}/llhttp.h not found: run deps/install.sh (package node-llhttp)")
endif()
add_library(llhttp STATIC ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c ${LLHTTP_SRC_DIR}/llhttp.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
# Strict mode: no bare-LF line endings and no other leniency (see server/conn.c).
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
target_compile_options(llhttp PRIVATE -w)
set_target_properties(llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)

if(TG_BUILD_TESTS)
    pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka>=1.1)
endif()
