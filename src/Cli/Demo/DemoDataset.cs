using System.Reflection;
using Microsoft.ML.Tokenizers;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Demo;

/// <summary>One labelled sentence.</summary>
internal sealed record LabelledText(int Label, string Text);

/// <summary>
/// The demo's data: 200 short sentences with a sentiment label (1 positive, 0 negative), written for
/// the project and embedded in the tool (Data/sentiment.tsv). Every fifth sentence is held out for
/// evaluation; the rest train.
/// </summary>
internal static class DemoDataset
{
    private const string Resource = "OnnxMemOpt.Cli.Data.sentiment.tsv";

    public static IReadOnlyList<LabelledText> Load()
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"the tool lacks its embedded data set {Resource}");
        using var reader = new StreamReader(stream);
        var rows = new List<LabelledText>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string[] parts = line.Split('\t', 2);
            rows.Add(new LabelledText(int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), parts[1]));
        }
        return rows;
    }

    public static (IReadOnlyList<LabelledText> Train, IReadOnlyList<LabelledText> Eval) Split(IReadOnlyList<LabelledText> rows) =>
        (rows.Where((_, i) => i % 5 != 4).ToList(), rows.Where((_, i) => i % 5 == 4).ToList());
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
