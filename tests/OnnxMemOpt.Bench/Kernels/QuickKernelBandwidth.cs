using System.Diagnostics;
using System.Globalization;

namespace OnnxMemOpt.Bench.Kernels;

/// <summary>
/// `--kernels-quick [--elements N] [--repeats R] [--threads T] [--kernels A,B]`: a GB/s table of
/// every kernel against the copy baseline in one process, in a minute or two instead of
/// BenchmarkDotNet's long runs. Each kernel: one warm-up run, then R timed runs; the table shows
/// GB/s from the median and from the best run, and the ratios of both to the faster of the two
/// copy baselines (ONNX Runtime's Identity kernel on the same tensor, and Buffer.MemoryCopy of
/// the same bytes split over the same threads). On a shared machine the best run is the better
/// estimate of what the kernel can do; the median shows what it did under the load at hand.
/// </summary>
public static class QuickKernelBandwidth
{
    public const string Flag = "--kernels-quick";

    public static int Run(string[] args)
    {
        long elements = LongOption(args, "--elements", 100_000_000);
        int repeats = (int)LongOption(args, "--repeats", 10);
        int threads = (int)LongOption(args, "--threads", Environment.ProcessorCount);
        elements = Math.Max(KernelSpec.RowLength, elements / KernelSpec.RowLength * KernelSpec.RowLength);
        string? only = StringOption(args, "--kernels");
        IEnumerable<KernelSpec> specs = only is null
            ? KernelSpecs.All
            : new[] { KernelSpecs.Copy }.Concat(only.Split(',').Select(KernelSpecs.ByName).Where(s => s != KernelSpecs.Copy));

        Console.WriteLine($"# Kernel bandwidth: {elements:N0} float32 elements (norm rows of {KernelSpec.RowLength}), {threads} intra-op threads, {repeats} timed runs each");
        Console.WriteLine();
        Console.WriteLine("| kernel | bytes moved (MB) | median ms | best ms | GB/s (median) | GB/s (best) | vs copy (median) | vs copy (best) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        var memoryCopy = new ParallelMemoryCopy(elements, threads);
        (double copyMedian, double copyBest) = Time(memoryCopy.Run, repeats);
        double copyBandwidth = memoryCopy.BytesMoved / copyMedian / 1e9;
        double copyBestBandwidth = memoryCopy.BytesMoved / copyBest / 1e9;
        var rows = new List<(string Name, double Bytes, double Median, double Best)> { ("Buffer.MemoryCopy", memoryCopy.BytesMoved, copyMedian, copyBest) };
        memoryCopy = null;
        foreach (KernelSpec spec in specs)
        {
            using KernelCase kernel = KernelCase.Create(spec, elements, threads);
            (double median, double best) = Time(kernel.Run, repeats);
            rows.Add((spec == KernelSpecs.Copy ? "Copy (ORT Identity)" : spec.Name, kernel.BytesMoved, median, best));
            if (spec == KernelSpecs.Copy)
            {
                copyBandwidth = Math.Max(copyBandwidth, kernel.BytesMoved / median / 1e9);
                copyBestBandwidth = Math.Max(copyBestBandwidth, kernel.BytesMoved / best / 1e9);
            }
        }
        foreach (var (name, bytes, median, best) in rows)
        {
            double bandwidth = bytes / median / 1e9;
            double bestBandwidth = bytes / best / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {bytes / 1e6:F0} | {median * 1e3:F2} | {best * 1e3:F2} | {bandwidth:F2} | {bestBandwidth:F2} | {bandwidth / copyBandwidth:P0} | {bestBandwidth / copyBestBandwidth:P0} |"));
        }
        return 0;
    }

    // One warm-up run, then the median and best of `repeats` timed runs, in seconds.
    private static (double Median, double Best) Time(Action run, int repeats)
    {
        run();
        var seconds = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            run();
            seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        seconds.Sort();
        return (seconds[seconds.Count / 2], seconds[0]);
    }

    private static string? StringOption(string[] args, string name)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private static long LongOption(string[] args, string name, long fallback) =>
        StringOption(args, name) is { } text ? long.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture) : fallback;
}
