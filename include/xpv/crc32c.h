/*
 * xpv/crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final
 * XOR 0xFFFFFFFF), the checksum of the topology record and of channel frames.
 * crc32c("123456789") == 0xE3069283.
 *
 * Hand-written (slicing-by-8 tables, and the SSE4.2 crc32 instruction when the CPU has it)
 * rather than a library: it is 100 lines, and the guest-side binaries should not grow a
 * dependency for it.
 */
#ifndef XPV_CRC32C_H
#define XPV_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CRC-32C of buf[0..len). */
uint32_t xpv_crc32c(const void *buf, size_t len);

/* Continue a CRC: xpv_crc32c_update(xpv_crc32c(a, n), b, m) == CRC of a||b. */
uint32_t xpv_crc32c_update(uint32_t crc, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
