# The VM side of the host daemon (docs/vm-attach.md): the QMP client and the description of a
# QEMU VM (vCPU threads, vNUMA layout, guest RAM ranges, channel devices). Included from
# src/CMakeLists.txt; the daemon itself is src/hostd/CMakeLists.txt.
set(XPV_VMM_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/qmp.c
    ${CMAKE_CURRENT_LIST_DIR}/vm_parse.c
    ${CMAKE_CURRENT_LIST_DIR}/vm_describe.c
    CACHE INTERNAL "")
add_library(xpv_vmm STATIC ${XPV_VMM_SOURCES})
target_include_directories(xpv_vmm PUBLIC ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(xpv_vmm PUBLIC xpv_topology PkgConfig::JANSSON)
xpv_host_target(xpv_vmm)
