# Compiles a BPF C file with clang -target bpf and turns the object into a
# libbpf skeleton header with bpftool. The skeleton embeds the object, so the
# binary that includes it stands alone.
#
#   bpf_skeleton(NAME selfconnect SOURCE bpf/selfconnect.bpf.c)
# gives an INTERFACE target `NAME_skel` whose include dir holds NAME.skel.h.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
find_program(BPF_STRIP NAMES llvm-strip llvm-strip-16 llvm-strip-15 llvm-strip-14 REQUIRED)

# BPF programs are built for the bpf target; only the arch macro for
# bpf_tracing.h depends on the host. -mcpu=v3 (32-bit ALU and jumps, Linux
# 5.1+, below the 5.8 floor): the state hook's entry compares its int
# arguments without zero-extending each one first, half the instructions.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(bpf_skeleton)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "DEPENDS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${ARG_NAME}.bpf.o)
  set(skel ${out_dir}/${ARG_NAME}.skel.h)
  get_filename_component(src ${ARG_SOURCE} ABSOLUTE)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -mcpu=v3
            -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -I${PROJECT_SOURCE_DIR}/vmlinux -I${PROJECT_SOURCE_DIR}/bpf
            -c ${src} -o ${obj}
    # -g is what gives the object its BTF; the DWARF beside it is read by
    # nothing at load, and the skeleton would carry it into the binary (a
    # third of the object: 135 kB of a 2.2 MB Release binary).
    COMMAND ${BPF_STRIP} -g ${obj}
    DEPENDS ${src} ${ARG_DEPENDS} ${PROJECT_SOURCE_DIR}/vmlinux/vmlinux.h
    COMMENT "BPF ${ARG_NAME}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND sh -c "\"$0\" gen skeleton \"$1\" name \"$2\" > \"$3\""
            ${BPFTOOL} ${obj} ${ARG_NAME}_bpf ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${ARG_NAME}.skel.h"
    VERBATIM)
  add_custom_target(${ARG_NAME}_skel_gen DEPENDS ${skel})
  add_library(${ARG_NAME}_skel INTERFACE)
  add_dependencies(${ARG_NAME}_skel ${ARG_NAME}_skel_gen)
  target_include_directories(${ARG_NAME}_skel INTERFACE ${out_dir})
endfunction()
