package org.scholarflow.engine;

import java.util.Map;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.cn.smart.HMMChineseTokenizer;
import org.apache.lucene.analysis.cn.smart.SmartChineseAnalyzer;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.IndexSettings;
import org.opensearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.opensearch.index.analysis.AbstractTokenizerFactory;
import org.opensearch.index.analysis.AnalyzerProvider;
import org.opensearch.index.analysis.TokenizerFactory;
import org.opensearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.opensearch.plugins.AnalysisPlugin;
import org.opensearch.plugins.Plugin;

/**
 * Lucene's Smart Chinese word segmentation for the embedded node (OpenSearch publishes no
 * analysis-smartcn plugin for 2.19). Registers:
 *
 * <ul>
 *   <li>{@code smartcn_tokenizer}: Chinese words (and the standard words of other scripts), as
 *       the OpenSearch plugin names it;
 *   <li>{@code smartcn}: Lucene's SmartChineseAnalyzer, for a look with {@code _analyze};
 *   <li>{@code smartcn_bigram}: a run of Han characters as its bigrams plus the words smartcn
 *       finds in it that are longer than a bigram ({@link WordsAndBigramsTokenizer}); with
 *       {@code unigrams: true} every character is kept too (for indexing).
 * </ul>
 *
 * Scholarflow detects the segmenter by the tokenizer names answering {@code _analyze}, not by
 * this class's name.
 */
public final class SmartChinesePlugin extends Plugin implements AnalysisPlugin {
    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of(
            "smartcn_tokenizer", WordsFactory::new,
            "smartcn_bigram", WordsAndBigramsFactory::new);
    }

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of("smartcn", SmartChineseProvider::new);
    }

    private static final class WordsFactory extends AbstractTokenizerFactory {
        WordsFactory(IndexSettings index, Environment environment, String name, Settings settings) {
            super(index, settings, name);
        }

        @Override
        public Tokenizer create() {
            return new HMMChineseTokenizer();
        }
    }

    private static final class WordsAndBigramsFactory extends AbstractTokenizerFactory {
        private final boolean unigrams;
        private final int minWord;

        WordsAndBigramsFactory(
            IndexSettings index, Environment environment, String name, Settings settings) {
            super(index, settings, name);
            this.unigrams = settings.getAsBoolean("unigrams", false);
            this.minWord = settings.getAsInt("min_word", 3);
        }

        @Override
        public Tokenizer create() {
            return new WordsAndBigramsTokenizer(unigrams, minWord);
        }
    }

    private static final class SmartChineseProvider
        extends AbstractIndexAnalyzerProvider<SmartChineseAnalyzer> {
        private final SmartChineseAnalyzer analyzer = new SmartChineseAnalyzer();

        SmartChineseProvider(
            IndexSettings index, Environment environment, String name, Settings settings) {
            super(index, name, settings);
        }

        @Override
        public SmartChineseAnalyzer get() {
            return analyzer;
        }
    }
}
