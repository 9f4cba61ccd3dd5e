/* ops.c — what every ops table shares (see xpv/ops.h). */
#include "xpv/ops.h"

void xpv_ops_free(struct xpv_ops *ops)
{
    if (ops && ops->destroy)
        ops->destroy(ops->ctx);
}
