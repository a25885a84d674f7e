cmake_minimum_required(VERSION 3.20)
# cmake -DREADME=README.md -DROOMS=build/code_rooms.txt -DSOURCE=. -DSCRATCH=dir -P this
#
# 1. The README's code map says of each room what the build declares
#    (cmake/CodeRooms.cmake writes the declarations to ROOMS): the same
#    rooms, each with the same rooms it may use.
# 2. The build's include check refuses a wrong arrow: a copy of records/
#    given an include of kernel/ must fail it, naming the file and the line,
#    and the room as it is must pass.

file(STRINGS ${ROOMS} declared)
set(declared_rooms "")
foreach(entry IN LISTS declared)
  string(REGEX REPLACE ":.*" "" room "${entry}")
  string(REGEX REPLACE "^[^:]*:" "" uses "${entry}")
  string(REPLACE "," ";" uses "${uses}")
  list(SORT uses)
  set(uses_of_${room} "${uses}")
  list(APPEND declared_rooms ${room})
endforeach()
if(NOT declared_rooms)
  message(FATAL_ERROR "${ROOMS} declares no room")
endif()

# The table: rows of the "### Code map" section, `folder/` | owns | may use.
file(READ ${README} text)
string(REGEX MATCH "### Code map.*" section "${text}")
string(REGEX MATCH "\n\\| folder \\|[^\n]*\n\\|---[^\n]*\n(\\|[^\n]*\n)+" table "${section}")
if(NOT table)
  message(FATAL_ERROR "README.md: no table under \"### Code map\"")
endif()
string(REPLACE "\n" ";" rows "${table}")
set(mapped_rooms "")
set(mismatches "")
foreach(row IN LISTS rows)
  if(NOT row MATCHES "^\\| `" )
    continue()
  endif()
  string(REGEX MATCH "^\\|[^|]*\\|" first "${row}")
  string(REGEX MATCH "\\|[^|]*\\|$" last "${row}")
  string(REGEX MATCHALL "`[a-z_]+/`" rooms_here "${first}")
  string(REGEX MATCHALL "`[a-z_]+/`" uses_here "${last}")
  string(REGEX REPLACE "`([a-z_]+)/`" "\\1" rooms_here "${rooms_here}")
  string(REGEX REPLACE "`([a-z_]+)/`" "\\1" uses_here "${uses_here}")
  list(SORT uses_here)
  foreach(room IN LISTS rooms_here)
    list(APPEND mapped_rooms ${room})
    if(NOT room IN_LIST declared_rooms)
      string(APPEND mismatches "  `${room}/` is in the README's map but is no room of the build\n")
    elseif(NOT "${uses_here}" STREQUAL "${uses_of_${room}}")
      string(APPEND mismatches "  `${room}/` may use [${uses_here}] in the README, [${uses_of_${room}}] in the build\n")
    endif()
  endforeach()
endforeach()
foreach(room IN LISTS declared_rooms)
  if(NOT room IN_LIST mapped_rooms)
    string(APPEND mismatches "  `${room}/` is a room of the build but not in the README's map\n")
  endif()
endforeach()
if(mismatches)
  message(FATAL_ERROR "README.md's code map and the build disagree:\n${mismatches}")
endif()
list(LENGTH declared_rooms n)
message(STATUS "the README's code map agrees with the build's ${n} rooms")

# 2. A wrong arrow fails the check.
set(check ${SOURCE}/cmake/check_room_includes.cmake)
file(REMOVE_RECURSE ${SCRATCH})
file(MAKE_DIRECTORY ${SCRATCH}/records)
file(GLOB record_files ${SOURCE}/user/records/*.h ${SOURCE}/user/records/*.cpp)
file(COPY ${record_files} DESTINATION ${SCRATCH}/records)
execute_process(COMMAND ${CMAKE_COMMAND} -DROOM=records -DUSES=${uses_of_records} -DDIR=${SCRATCH}/records
                        -DSTAMP=${SCRATCH}/ok.stamp -P ${check}
                RESULT_VARIABLE rc_right ERROR_VARIABLE err_right)
if(NOT rc_right EQUAL 0)
  message(FATAL_ERROR "the include check refuses records/ as it is:\n${err_right}")
endif()
file(APPEND ${SCRATCH}/records/record.cpp "#include \"kernel/kernel_program.h\"\n")
execute_process(COMMAND ${CMAKE_COMMAND} -DROOM=records -DUSES=${uses_of_records} -DDIR=${SCRATCH}/records
                        -DSTAMP=${SCRATCH}/wrong.stamp -P ${check}
                RESULT_VARIABLE rc_wrong ERROR_VARIABLE err_wrong)
file(REMOVE_RECURSE ${SCRATCH})
if(rc_wrong EQUAL 0)
  message(FATAL_ERROR "the include check let records/ include kernel/")
endif()
if(NOT err_wrong MATCHES "records/record.cpp: #include \"kernel/kernel_program.h\"")
  message(FATAL_ERROR "the include check refused records/ without naming the file and line:\n${err_wrong}")
endif()
message(STATUS "a records/ file that includes kernel/ fails the build's include check")
