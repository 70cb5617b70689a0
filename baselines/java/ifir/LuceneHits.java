package ifir;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Lucene's hits for many queries in one call, as one array of numbers: what the BM25 baseline needs
 * from a search, without a Java object per hit crossing into Python. Queries are searched on Java
 * threads, with Python's lock not held meanwhile.
 *
 * <p>Compiled against java.base only (Lucene is reached by reflection), so any JDK 17+ builds it and
 * the class runs on the Java 21+ that Anserini needs:
 * {@code javac --release 17 -d baselines/java baselines/java/ifir/LuceneHits.java}
 */
public final class LuceneHits {
    private LuceneHits() {}

    /**
     * Query i searched on {@code searcher} for its top depths[i] + 1 hits, fetched again at twice the
     * depth while a tie of scores straddles rank depths[i] (so the caller can order ties by its own
     * rule); a depth of 0 or less gives no hits. Returns one flat array: first queries.length + 1
     * offsets, then for query i the numbers between offsets i and i + 1, as pairs (Lucene document
     * number, score); both are exact in a double.
     */
    public static double[] search(Object searcher, Object[] queries, int[] depths, int threads) throws Throwable {
        ClassLoader loader = searcher.getClass().getClassLoader();
        Class<?> queryClass = Class.forName("org.apache.lucene.search.Query", true, loader);
        Class<?> scoreDocClass = Class.forName("org.apache.lucene.search.ScoreDoc", true, loader);
        Method search = searcher.getClass().getMethod("search", queryClass, int.class);
        Field scoreDocs = Class.forName("org.apache.lucene.search.TopDocs", true, loader).getField("scoreDocs");
        Field doc = scoreDocClass.getField("doc");
        Field score = scoreDocClass.getField("score");

        double[][] rows = new double[queries.length][];
        AtomicInteger next = new AtomicInteger();
        Throwable[] failure = new Throwable[1];
        Runnable work = () -> {
            try {
                for (int i = next.getAndIncrement(); i < queries.length && failure[0] == null; i = next.getAndIncrement()) {
                    int k = depths[i];
                    if (k <= 0) {
                        rows[i] = new double[0];
                        continue;
                    }
                    Object query = queries[i];
                    int n = k + 1;
                    Object[] hits = (Object[]) scoreDocs.get(search.invoke(searcher, query, n));
                    while (hits.length == n && n > k && score.getFloat(hits[n - 1]) == score.getFloat(hits[k - 1])) {
                        n *= 2;
                        hits = (Object[]) scoreDocs.get(search.invoke(searcher, query, n));
                    }
                    double[] row = new double[2 * hits.length];
                    for (int j = 0; j < hits.length; j++) {
                        row[2 * j] = doc.getInt(hits[j]);
                        row[2 * j + 1] = score.getFloat(hits[j]);
                    }
                    rows[i] = row;
                }
            } catch (InvocationTargetException e) {
                failure[0] = e.getCause();
            } catch (Throwable e) {
                failure[0] = e;
            }
        };
        Thread[] workers = new Thread[Math.max(1, Math.min(threads, queries.length))];
        for (int t = 0; t < workers.length; t++) {
            workers[t] = new Thread(work, "ifir-lucene-" + t);
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure[0] != null) {
            throw failure[0];
        }
        int total = 0;
        for (double[] row : rows) {
            total += row.length;
        }
        double[] out = new double[queries.length + 1 + total];
        int at = queries.length + 1;
        for (int i = 0; i < queries.length; i++) {
            out[i] = at;
            System.arraycopy(rows[i], 0, out, at, rows[i].length);
            at += rows[i].length;
        }
        out[queries.length] = at;
        return out;
    }
}
