/* An empty library whose SONAME is the real libnuma's absolute path: linked into the
 * libnuma.so.1 shim only to give it DT_NEEDED on that path (src/numa/CMakeLists.txt). */
int xpv_numa_real_stub(void);
int xpv_numa_real_stub(void)
{
    return 0;
}
