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
# An existing build directory is not configured again (unless CMAKE_ARGS are given): Ninja
# re-runs CMake by itself when a CMakeLists.txt changed, so an up-to-date build costs only
# Ninja's check.
configure_and_build() {
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  if [ ! -f "$BUILD_DIR/build.ninja" ] || [ -n "${CMAKE_ARGS:-}" ]; then
    cmake -S "$top" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
      ${CMAKE_ARGS:-} >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j"$JOBS" "$@"
}
