# The git revision desfired was built from, for `desfired --version` (server/build_info.h).
#
# Read at configure time: DESFIRED_GIT_REVISION is the commit's short hash, "-dirty" appended
# when tracked files differ from it, or "unknown" when the sources are not a git checkout (a
# tarball) or git is missing. CMake configures again when the checked-out commit changes
# (HEAD or the branch it points to), so the revision follows commits; edits without a commit
# show as "-dirty" only from the next configure.
set(DESFIRED_GIT_REVISION "unknown")
find_package(Git QUIET)

# `git ARGN` in the source tree; its output in `out`, empty when git fails.
function(desfired_git out)
  execute_process(
    COMMAND ${GIT_EXECUTABLE} ${ARGN}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE text
    RESULT_VARIABLE result
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT result EQUAL 0)
    set(text "")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

if(GIT_FOUND)
  desfired_git(head rev-parse --short=12 HEAD)
  if(head)
    set(DESFIRED_GIT_REVISION ${head})
    desfired_git(changes status --porcelain --untracked-files=no)
    if(changes)
      string(APPEND DESFIRED_GIT_REVISION "-dirty")
    endif()
    # Configure again when HEAD moves: HEAD itself (another branch) and the branch's ref.
    desfired_git(watched rev-parse --git-path HEAD)
    desfired_git(branch symbolic-ref -q HEAD)
    if(branch)
      desfired_git(branch_path rev-parse --git-path ${branch})
      list(APPEND watched ${branch_path})
    endif()
    foreach(file ${watched})
      if(NOT IS_ABSOLUTE ${file})
        set(file ${PROJECT_SOURCE_DIR}/${file})
      endif()
      if(EXISTS ${file})
        set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                                                                     ${file})
      endif()
    endforeach()
  endif()
endif()
