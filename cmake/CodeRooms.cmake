# Each folder of user/ is one room of the code map (README, "Code map") and
# one static library. A room links only the rooms it may use, and before it
# compiles, its files' includes are checked against the same list: with one
# include root for all of user/, a header of a room it may not use would
# otherwise compile, and a wrong arrow would pass unseen.
#
#   selfconnect_room(NAME USES room... SOURCES file... LINKS target...)
#
# The rooms declared, with what each may use, are written to
# ${PROJECT_BINARY_DIR}/code_rooms.txt for the test that holds the README's
# table to them.

set(SELFCONNECT_ROOMS_FILE ${PROJECT_BINARY_DIR}/code_rooms.txt)
file(WRITE ${SELFCONNECT_ROOMS_FILE} "")

function(selfconnect_room name)
  cmake_parse_arguments(ROOM "" "" "USES;SOURCES;LINKS" ${ARGN})
  set(target selfconnect_${name})
  add_library(${target} STATIC ${ROOM_SOURCES})
  target_include_directories(${target} PUBLIC
    ${CMAKE_CURRENT_SOURCE_DIR}
    ${PROJECT_SOURCE_DIR}/bpf
    ${CMAKE_CURRENT_BINARY_DIR}/generated)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  set(used_targets "")
  foreach(used IN LISTS ROOM_USES)
    list(APPEND used_targets selfconnect_${used})
  endforeach()
  target_link_libraries(${target} PUBLIC ${used_targets} ${ROOM_LINKS})

  set(dir ${CMAKE_CURRENT_SOURCE_DIR}/${name})
  file(GLOB room_files CONFIGURE_DEPENDS ${dir}/*.h ${dir}/*.cpp)
  string(REPLACE ";" "," uses_text "${ROOM_USES}")
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/code_rooms/${name}.checked)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DROOM=${name} -DUSES=${uses_text} -DDIR=${dir} -DSTAMP=${stamp}
            -P ${PROJECT_SOURCE_DIR}/cmake/check_room_includes.cmake
    DEPENDS ${room_files} ${PROJECT_SOURCE_DIR}/cmake/check_room_includes.cmake
    COMMENT "Checking that user/${name}/ includes only the rooms it may use"
    VERBATIM)
  add_custom_target(${target}_includes DEPENDS ${stamp})
  add_dependencies(${target} ${target}_includes)

  file(APPEND ${SELFCONNECT_ROOMS_FILE} "${name}:${uses_text}\n")
endfunction()
