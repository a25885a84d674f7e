cmake_minimum_required(VERSION 3.20)
# cmake -DROOM=watch -DUSES=host,records -DDIR=user/watch -DSTAMP=file -P this
# Fails, naming the file and the line, when a file of the room includes a
# header of a room it may not use (`#include "kernel/..."` from records/).
# Includes without a folder ("events.h", the BPF skeletons) and system
# headers (<...>) are not rooms.
string(REPLACE "," ";" uses "${USES}")
file(GLOB files ${DIR}/*.h ${DIR}/*.cpp)
set(wrong "")
foreach(file IN LISTS files)
  file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"[^\"/]+/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"/]+)/.*" "\\1" room "${line}")
    if(NOT room STREQUAL ROOM AND NOT room IN_LIST uses)
      get_filename_component(short ${file} NAME)
      string(APPEND wrong "  ${ROOM}/${short}: ${line}\n")
    endif()
  endforeach()
endforeach()
if(wrong)
  if(USES)
    set(may "${USES}")
  else()
    set(may "no other room")
  endif()
  message(FATAL_ERROR "user/${ROOM}/ may use ${may} (README, \"Code map\"; user/CMakeLists.txt), "
                      "but includes:\n${wrong}")
endif()
file(WRITE ${STAMP} "")
