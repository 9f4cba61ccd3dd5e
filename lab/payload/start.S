/*
 * start.S — the nested lab's payload (lab/payload/README.md): the multiboot (v1) header, the
 * boot CPU's entry, the real-mode trampoline the APs start in (payload.c copies it below
 * 1 MiB), the APs' 32-bit entry and the flat GDT both use. No paging, no interrupts.
 */
#include "payload.h"

        .section .multiboot, "a"
        .balign 4
        .long   0x1BADB002                      /* multiboot v1 magic */
        .long   0x00000002                      /* flags: memory info wanted */
        .long   -(0x1BADB002 + 0x00000002)      /* checksum */

        .text
        .code32
        .globl  _start
_start:                                         /* eax = 0x2BADB002, ebx = multiboot info */
        cli
        lgdt    gdt_desc
        ljmp    $0x08, $1f
1:      mov     $0x10, %cx
        mov     %cx, %ds
        mov     %cx, %es
        mov     %cx, %fs
        mov     %cx, %gs
        mov     %cx, %ss
        mov     $bsp_stack_top, %esp
        push    %ebx
        push    %eax
        call    bsp_main                        /* does not return */
2:      cli
        hlt
        jmp     2b

/* The AP trampoline, copied to NEST_TRAMPOLINE (a SIPI vector's page): an AP starts here in
 * real mode with cs = NEST_TRAMPOLINE >> 4, ip = 0. Everything it addresses is relative to
 * tramp_start, so it runs wherever it was copied. */
        .globl  tramp_start, tramp_end
        .code16
tramp_start:
        cli
        mov     %cs, %ax
        mov     %ax, %ds
        lgdtl   (tramp_gdt_desc - tramp_start)
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $ap_entry32
        .balign 4
tramp_gdt_desc:
        .word   gdt_end - gdt - 1
        .long   gdt
tramp_end:

        .code32
ap_entry32:
        mov     $0x10, %cx
        mov     %cx, %ds
        mov     %cx, %es
        mov     %cx, %fs
        mov     %cx, %gs
        mov     %cx, %ss
        mov     0xFEE00020, %eax                /* local APIC id register */
        shr     $24, %eax
        cmp     $NEST_MAX_CPUS, %eax
        jae     3f                              /* no stack for it: park */
        lea     1(%eax), %ecx
        shl     $12, %ecx                       /* 4 KiB a stack */
        lea     ap_stacks(%ecx), %esp
        push    %eax
        call    ap_main                         /* does not return */
3:      cli
        hlt
        jmp     3b

        .data
        .balign 8
gdt:    .quad   0
        .quad   0x00CF9A000000FFFF              /* 0x08: code, flat 4 GiB, 32-bit */
        .quad   0x00CF92000000FFFF              /* 0x10: data, flat 4 GiB */
gdt_end:
gdt_desc:
        .word   gdt_end - gdt - 1
        .long   gdt

        .bss
        .balign 16
        .space  16384
bsp_stack_top:
ap_stacks:
        .space  4096 * NEST_MAX_CPUS

        .section .note.GNU-stack, "", @progbits
