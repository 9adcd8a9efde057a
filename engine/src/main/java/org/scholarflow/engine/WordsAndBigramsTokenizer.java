package org.scholarflow.engine;

import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.cn.smart.HMMChineseTokenizer;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.OffsetAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.apache.lucene.analysis.tokenattributes.TypeAttribute;

/**
 * Words plus bigrams in one field. The text is split as the standard tokenizer splits it; a run
 * of CJK characters becomes its overlapping bigrams (a lone character stays a unigram), as
 * {@code cjk_bigram} makes them, and each word of three or more characters that smartcn finds in
 * the run follows the bigram it starts at. Shorter words are left out: they are a bigram or a
 * character already. With {@code unigrams} every character is kept too, at its bigram's position
 * (what {@code cjk_bigram} with {@code output_unigrams} indexes), so a one-character query still
 * finds the text.
 *
 * <p>Every token but a stacked unigram takes its own position, so a query's terms stay plain
 * alternatives (no synonym blending of a word with its bigrams), and query and document text
 * segmented alike keep their positions in step for phrases.
 */
public final class WordsAndBigramsTokenizer extends Tokenizer {
    private static final Set<String> CJK_TYPES = Set.of(
        "<IDEOGRAPHIC>", "<HIRAGANA>", "<KATAKANA>", "<HANGUL>");
    private final boolean unigrams;
    private final int minWord;
    private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
    private final OffsetAttribute offset = addAttribute(OffsetAttribute.class);
    private final PositionIncrementAttribute increment =
        addAttribute(PositionIncrementAttribute.class);
    private final TypeAttribute type = addAttribute(TypeAttribute.class);
    private final List<Token> pending = new ArrayList<>();
    // Reused for every value this tokenizer reads (close, then a new reader): building them is
    // the costly part.
    private final StandardTokenizer standard = new StandardTokenizer();
    private final HMMChineseTokenizer segmenter = new HMMChineseTokenizer();
    private int next;
    private int length;

    private record Token(String text, int start, int end, String type, int increment) {}

    public WordsAndBigramsTokenizer(boolean unigrams, int minWord) {
        this.unigrams = unigrams;
        this.minWord = minWord;
    }

    @Override
    public void reset() throws IOException {
        super.reset();
        pending.clear();
        next = 0;
        StringBuilder text = new StringBuilder();
        char[] buffer = new char[4096];
        for (int read = input.read(buffer); read != -1; read = input.read(buffer)) {
            text.append(buffer, 0, read);
        }
        length = text.length();
        split(text.toString());
    }

    @Override
    public boolean incrementToken() {
        if (next >= pending.size()) {
            return false;
        }
        clearAttributes();
        Token token = pending.get(next++);
        term.append(token.text());
        offset.setOffset(correctOffset(token.start()), correctOffset(token.end()));
        increment.setPositionIncrement(token.increment());
        type.setType(token.type());
        return true;
    }

    @Override
    public void end() throws IOException {
        super.end();
        int last = correctOffset(length);
        offset.setOffset(last, last);
    }

    private void split(String text) throws IOException {
        List<Token> run = new ArrayList<>();
        for (Token token : standardTokens(text)) {
            boolean cjk = CJK_TYPES.contains(token.type());
            if (!run.isEmpty() && (!cjk || run.get(run.size() - 1).end() != token.start())) {
                addRun(text, run);
                run.clear();
            }
            if (cjk) {
                run.add(token);
            } else {
                pending.add(token);
            }
        }
        addRun(text, run);
    }

    private List<Token> standardTokens(String text) throws IOException {
        List<Token> tokens = new ArrayList<>();
        try (standard) {
            CharTermAttribute t = standard.addAttribute(CharTermAttribute.class);
            OffsetAttribute o = standard.addAttribute(OffsetAttribute.class);
            TypeAttribute y = standard.addAttribute(TypeAttribute.class);
            standard.setReader(new StringReader(text));
            standard.reset();
            while (standard.incrementToken()) {
                tokens.add(new Token(t.toString(), o.startOffset(), o.endOffset(), y.type(), 1));
            }
            standard.end();
        }
        return tokens;
    }

    private void addRun(String text, List<Token> run) throws IOException {
        if (run.isEmpty()) {
            return;
        }
        int start = run.get(0).start();
        int end = run.get(run.size() - 1).end();
        Map<Integer, List<Token>> wordsAt = words(text.substring(start, end), start);
        Map<Integer, Integer> indexOf = new HashMap<>();
        for (int i = 0; i < run.size(); i++) {
            indexOf.put(run.get(i).start(), i);
        }
        if (run.size() == 1) {
            Token only = run.get(0);
            pending.add(new Token(only.text(), only.start(), only.end(), "<SINGLE>", 1));
            return;
        }
        for (int i = 0; i < run.size(); i++) {
            Token here = run.get(i);
            if (unigrams) {
                pending.add(new Token(here.text(), here.start(), here.end(), "<SINGLE>", 1));
            }
            if (i + 1 < run.size()) {
                Token after = run.get(i + 1);
                pending.add(new Token(here.text() + after.text(), here.start(), after.end(),
                    "<DOUBLE>", unigrams ? 0 : 1));
            }
            for (Token word : wordsAt.getOrDefault(here.start(), List.of())) {
                if (indexOf.containsKey(word.start())) {
                    pending.add(word);
                }
            }
        }
    }

    /** The words of three or more characters smartcn finds in a run, by start offset. */
    private Map<Integer, List<Token>> words(String run, int base) throws IOException {
        Map<Integer, List<Token>> found = new HashMap<>();
        try (segmenter) {
            CharTermAttribute t = segmenter.addAttribute(CharTermAttribute.class);
            OffsetAttribute o = segmenter.addAttribute(OffsetAttribute.class);
            segmenter.setReader(new StringReader(run));
            segmenter.reset();
            while (segmenter.incrementToken()) {
                String word = t.toString();
                if (word.codePointCount(0, word.length()) >= minWord) {
                    int start = base + o.startOffset();
                    found.computeIfAbsent(start, k -> new ArrayList<>())
                        .add(new Token(word, start, base + o.endOffset(), "<WORD>", 1));
                }
            }
            segmenter.end();
        }
        return found;
    }
}
