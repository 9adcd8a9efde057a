package org.scholarflow.engine;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.lucene.util.Version;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.percolator.PercolatorPlugin;
import org.opensearch.plugin.analysis.icu.AnalysisICUPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;
import org.opensearch.transport.TransportService;

/**
 * Scholarflow's embedded engine: one OpenSearch node on 127.0.0.1 with the plugins the paper
 * indices need, loaded from the classpath (no plugin bundles, so no jar-hell checks to satisfy).
 *
 * <p>Arguments are OpenSearch settings as {@code -Ekey=value} (at least {@code path.home}); they
 * override the defaults below. The topology is a parameter: without {@code discovery.seed_hosts}
 * the node is a cluster of its own ({@code discovery.type: single-node}); with it, the node joins
 * the other nodes named there (a local cluster of several JVMs, one per node). Once the node serves HTTP, one JSON line with its
 * address and versions goes to stdout; logs go to stderr. SIGTERM closes the node cleanly; data
 * is durable without it (the translog is fsynced per request).
 */
public final class EmbeddedNode extends Node {
    private static final List<Class<? extends Plugin>> PLUGINS = plugins();
    // Vector fields (`knn_vector`) and `knn` queries. Its jars come from the plugin's zip, not
    // from a compile-time dependency, so the class is looked up by name.
    private static final String KNN_PLUGIN = "org.opensearch.knn.plugin.KNNPlugin";

    private static final Settings DEFAULTS = Settings.builder()
        .put("cluster.name", "scholarflow")
        .put("node.name", "scholarflow-embedded")
        .put("discovery.type", "single-node")
        .put("network.host", "127.0.0.1")
        .put("http.port", 0)
        .put("transport.port", 0)
        // A laptop's disk is shared with everything else: never block writes for its fill level.
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .put("action.destructive_requires_name", false)
        .build();

    private static List<Class<? extends Plugin>> plugins() {
        List<Class<? extends Plugin>> plugins = new ArrayList<>(List.of(
            Netty4Plugin.class,
            CommonAnalysisPlugin.class,
            MapperExtrasPlugin.class,
            ReindexPlugin.class,
            PercolatorPlugin.class,
            AnalysisICUPlugin.class,
            SmartChinesePlugin.class));
        try {
            plugins.add(Class.forName(KNN_PLUGIN).asSubclass(Plugin.class));
        } catch (ClassNotFoundException e) {
            System.err.println("scholarflow-engine: no k-NN plugin on the classpath: no vector fields");
        }
        return List.copyOf(plugins);
    }

    private EmbeddedNode(Environment environment) {
        super(environment, PLUGINS, true);
    }

    public static void main(String[] args) throws Exception {
        Settings.Builder given = Settings.builder().put(DEFAULTS);
        for (String arg : args) {
            if (!arg.startsWith("-E") || !arg.contains("=")) {
                fail("arguments are -Ekey=value settings, not " + arg);
            }
            String[] pair = arg.substring(2).split("=", 2);
            given.put(pair[0], pair[1]);
        }
        boolean joins = given.get("discovery.seed_hosts") != null;
        if (joins && "single-node".equals(given.get("discovery.type"))) {
            given.remove("discovery.type"); // the default: discover the seed hosts, elect a manager
        }
        Settings settings = given.build();
        if (!settings.hasValue("path.home")) {
            fail("-Epath.home=DIR is required");
        }
        Path config = Path.of(settings.get("path.home"), "config");
        Files.createDirectories(config);
        try (InputStream logging = EmbeddedNode.class.getResourceAsStream("/log4j2.properties")) {
            Files.copy(logging, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), config, () -> settings.get("node.name"));
        // The log configuration sends System.out to a logger: keep the real one for the ready line.
        PrintStream ready = System.out;
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(settings.get("node.name"));
        LogConfigurator.configure(environment);

        EmbeddedNode node;
        try {
            node = new EmbeddedNode(environment);
            node.start();
        } catch (Exception e) {
            fail(rootMessage(e));
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("scholarflow-engine: error while stopping: " + e);
            } finally {
                stopped.countDown();
            }
        }, "scholarflow-engine-shutdown"));

        var address = node.injector().getInstance(HttpServerTransport.class)
            .boundAddress().publishAddress();
        var transport = node.injector().getInstance(TransportService.class)
            .boundAddress().publishAddress();
        ready.printf(
            "{\"url\": \"http://%s\", \"transport\": \"%s\", \"version\": \"%s\", "
                + "\"lucene\": \"%s\", \"pid\": %d}%n",
            address, transport, org.opensearch.Version.CURRENT, Version.LATEST,
            ProcessHandle.current().pid());
        ready.flush();
        stopped.await(); // the node's own threads are daemons: this one keeps the process alive
    }

    private static String rootMessage(Throwable error) {
        Throwable cause = error;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        String where = cause == error ? "" : " (" + error.getMessage() + ")";
        return cause.getClass().getSimpleName() + ": " + cause.getMessage() + where;
    }

    private static void fail(String message) {
        System.err.println("scholarflow-engine: cannot start: " + message);
        System.exit(1);
    }
}
