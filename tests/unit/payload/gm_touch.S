/*
 * gm_touch.S — a bare multiboot (v1) payload for unit.gm_sampler.qemu: QEMU loads it with
 * -kernel and enters it in 32-bit protected mode (flat segments, no paging) on the boot vCPU,
 * which then increments one word of every 4 KiB page of [16 MiB, 32 MiB) of guest-physical
 * memory, forever. The other vCPUs stay halted (no SMP start-up: that is the nested lab's
 * payload). So every sample the guest-memory sampler takes from vCPU 0 lies in that range.
 */
    .text
    .globl _start
    .align 4
mb_header:
    .long 0x1BADB002          /* magic */
    .long 0x00000000          /* flags: an ELF image, nothing asked of the loader */
    .long -(0x1BADB002)       /* checksum */
_start:
    cli
1:  mov $0x1000000, %edi      /* 16 MiB */
    mov $4096, %ecx           /* 4096 pages: up to 32 MiB */
2:  incl (%edi)
    add $4096, %edi
    loop 2b
    jmp 1b
    .section .note.GNU-stack, "", @progbits
