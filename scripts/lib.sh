# Shared by scripts/test and scripts/demo: where things are and how to build.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
JOBS=${JOBS:-2}

ensure_setup() {
  if ! "$top/scripts/setup" --check >/dev/null 2>&1; then
    "$top/scripts/setup"
  fi
}

# configure_and_build [cmake --build arguments, e.g. --target desfirectl]
configure_and_build() {
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$top" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
    ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD_DIR" -j"$JOBS" "$@"
}
