/*
 * XpvJvmAlloc.java — the JVM workload of the lab tests e2e.jvm.* (tests/lab/e2e_runtimes.c),
 * compiled with javac at build time into the lab's build directory and put in the guest's /bin.
 *
 *   java -XX:+UseNUMA ... -cp /bin XpvJvmAlloc MIB
 *
 * Prints "XPV-JVM ready", then waits for a line on stdin; allocates MIB MiB of live 64 KiB byte
 * arrays (below G1's humongous threshold for 1 MiB regions, so they come from the allocating
 * thread's TLAB or eden chunk, not a humongous region), writes one byte per 4 KiB of each,
 * prints "XPV-JVM allocated N arrays", and keeps them until stdin reaches EOF. The test reads
 * /proc/PID/numa_maps before the line and after "allocated": the pages this thread's new
 * objects brought in, per node. The test pins the whole JVM to one vCPU (its affinity), so the
 * thread's node is that vCPU's.
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;

public final class XpvJvmAlloc {
    static byte[][] keep;

    public static void main(String[] args) throws Exception {
        int mib = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        System.out.println("XPV-JVM ready");
        System.out.flush();
        if (in.readLine() == null)
            return;
        int n = mib * 16;
        keep = new byte[n][];
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[64 * 1024];
            for (int j = 0; j < b.length; j += 4096)
                b[j] = (byte) (i + j);
            keep[i] = b;
        }
        System.out.println("XPV-JVM allocated " + n + " arrays");
        System.out.flush();
        while (in.readLine() != null) {
        }
        long sum = 0;
        for (byte[] b : keep)
            sum += b[0];
        System.out.println("XPV-JVM done " + sum);
    }
}
