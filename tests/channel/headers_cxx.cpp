// headers_cxx.cpp — the public headers compile as C++17 (libxpv is meant for C++ runtimes too).
#include "xpv/bitmap.h"
#include "xpv/channel.h"
#include "xpv/crc32c.h"
#include "xpv/effective.h"
#include "xpv/error.h"
#include "xpv/frame.h"
#include "xpv/publisher.h"
#include "xpv/record.h"

uint64_t gen_of(const struct xpv_channel *ch);
uint64_t gen_of(const struct xpv_channel *ch) { return xpv_channel_generation(ch); }
