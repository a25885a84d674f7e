# Each folder of user/ is one room of the code map (README, "Code map") and
# one static library. A room links only the rooms it may use, and before it
# compiles, its files' includes are checked against the same list: with one
# include root for all of user/, a header of a room it may not use would
# otherwise compile, and a wrong arrow would pass unseen.
#
#   selfconnect_room(NAME USES room... SOURCES file... LINKS target...
#                    [CHECK_ALSO file...])
#
# CHECK_ALSO: files outside the room's folder held to its uses (main.cpp).
#
# The rooms declared, with what each may use, are written to
# ${PROJECT_BINARY_DIR}/code_rooms.txt for the test that holds the README's
# table to them.

set(SELFCONNECT_ROOM_CHECK ${CMAKE_CURRENT_LIST_DIR}/check_room_includes.cmake)
set(SELFCONNECT_ROOMS_FILE ${PROJECT_BINARY_DIR}/code_rooms.txt)
file(WRITE ${SELFCONNECT_ROOMS_FILE} "")

function(selfconnect_room name)
  cmake_parse_arguments(ROOM "" "" "USES;SOURCES;LINKS;CHECK_ALSO" ${ARGN})
  set(target selfconnect_${name})
  add_library(${target} STATIC ${ROOM_SOURCES})
  target_include_directories(${target} PUBLIC
    ${CMAKE_CURRENT_SOURCE_DIR}
    ${PROJECT_SOURCE_DIR}/bpf
    ${CMAKE_CURRENT_BINARY_DIR}/generated)
  # A switch over an enum that misses a value fails: a kind of record
  # added without its handling, text or name is pointed at by the compiler.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror=switch)
  set(used_targets "")
  foreach(used IN LISTS ROOM_USES)
    list(APPEND used_targets selfconnect_${used})
  endforeach()
  target_link_libraries(${target} PUBLIC ${used_targets} ${ROOM_LINKS})

  set(dir ${CMAKE_CURRENT_SOURCE_DIR}/${name})
  # Every file of the folder, subfolders and any extension included; a file
  # added later is found at the next build (CONFIGURE_DEPENDS), and the
  # list is a file the check depends on, so that a file added with an old
  # time (cp -p, tar) is checked too.
  file(GLOB_RECURSE room_files LIST_DIRECTORIES false CONFIGURE_DEPENDS ${dir}/*)
  set(also "")
  foreach(file IN LISTS ROOM_CHECK_ALSO)
    list(APPEND also ${CMAKE_CURRENT_SOURCE_DIR}/${file})
  endforeach()
  list(APPEND room_files ${also})
  set(list_file ${CMAKE_CURRENT_BINARY_DIR}/code_rooms/${name}.files)
  string(REPLACE ";" "\n" listed "${room_files}")
  file(CONFIGURE OUTPUT ${list_file} CONTENT "${listed}\n" @ONLY)
  string(REPLACE ";" "," uses_text "${ROOM_USES}")
  string(REPLACE ";" "," also_text "${also}")
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/code_rooms/${name}.checked)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DROOM=${name} -DUSES=${uses_text} -DDIR=${dir} -DEXTRA=${also_text}
            -DSTAMP=${stamp} -P ${SELFCONNECT_ROOM_CHECK}
    DEPENDS ${room_files} ${list_file} ${SELFCONNECT_ROOM_CHECK}
    COMMENT "Checking that user/${name}/ includes only the rooms it may use"
    VERBATIM)
  add_custom_target(${target}_includes DEPENDS ${stamp})
  add_dependencies(${target} ${target}_includes)

  file(APPEND ${SELFCONNECT_ROOMS_FILE} "${name}:${uses_text}\n")
endfunction()
