/*
 * payload.h — what the nested lab's payload (payload.c, start.S) and the programs that run and
 * check it (nest.c) agree on. Included from assembly too.
 */
#ifndef XPV_NEST_PAYLOAD_H
#define XPV_NEST_PAYLOAD_H

#define NEST_MAX_CPUS   16          /* vCPUs the payload has stacks for */
#define NEST_TRAMPOLINE 0x8000      /* where the AP trampoline is copied (SIPI vector 0x08) */
#define NEST_TAG_MAGIC  0x4E530000u /* word 0 of a touched page: NEST_TAG_MAGIC | vCPU */
#define NEST_TAG_MASK   0xFFFF0000u
#define NEST_EXIT_PORT  0xf4 /* -device isa-debug-exit,iobase=0xf4,iosize=4 */
#define NEST_EXIT_OK    0x10 /* QEMU exits with (code << 1) | 1: 33 */
#define NEST_EXIT_ERROR 0x11 /* 35: the payload printed "NEST error ..." first */
#define NEST_GO_BYTE    'g'  /* with wait=1: the byte on COM1 that starts the touching */

#endif
