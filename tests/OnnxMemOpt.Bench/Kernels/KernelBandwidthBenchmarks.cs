using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace OnnxMemOpt.Bench.Kernels;

/// <summary>
/// BenchmarkDotNet suite: the copy baseline (ONNX Runtime Identity) and each kernel on the same
/// element count, with GB/s (bytes read + written / mean time) as an extra column. Elements
/// default to 1e8; set ONNXMEMOPT_BENCH_ELEMENTS to run smaller.
/// </summary>
[Config(typeof(BandwidthConfig))]
public class KernelBandwidthBenchmarks
{
    private KernelCase? _case;

    public static IEnumerable<long> ElementCounts() =>
        [long.TryParse(Environment.GetEnvironmentVariable("ONNXMEMOPT_BENCH_ELEMENTS"), out long n) ? n / KernelSpec.RowLength * KernelSpec.RowLength : 99_999_744];

    public static IEnumerable<string> KernelNames() => KernelSpecs.All.Select(s => s.Name);

    [ParamsSource(nameof(ElementCounts))]
    public long Elements { get; set; }

    [ParamsSource(nameof(KernelNames))]
    public string Kernel { get; set; } = "Copy";

    [GlobalSetup]
    public void Setup() => _case = KernelCase.Create(KernelSpecs.ByName(Kernel), Elements, Environment.ProcessorCount);

    [GlobalCleanup]
    public void Cleanup() => _case?.Dispose();

    [Benchmark]
    public void Run() => _case!.Run();

    private sealed class BandwidthConfig : ManualConfig
    {
        public BandwidthConfig() => AddColumn(new BandwidthColumn());
    }

    /// <summary>GB/s from the mean time and the bytes the kernel must move.</summary>
    private sealed class BandwidthColumn : IColumn
    {
        public string Id => nameof(BandwidthColumn);
        public string ColumnName => "GB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Bytes read + written once per element (and per row) divided by the mean time";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } statistics)
            {
                return "-";
            }
            var spec = KernelSpecs.ByName((string)benchmarkCase.Parameters["Kernel"]);
            long elements = (long)benchmarkCase.Parameters["Elements"];
            return (spec.BytesMoved(elements) / (statistics.Mean * 1e-9) / 1e9).ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
    }
}

/// <summary>The Buffer.MemoryCopy baseline on the same element count as <see cref="KernelBandwidthBenchmarks"/>.</summary>
public class MemoryCopyBenchmarks
{
    private ParallelMemoryCopy? _copy;

    [ParamsSource(nameof(ElementCounts))]
    public long Elements { get; set; }

    public static IEnumerable<long> ElementCounts() => KernelBandwidthBenchmarks.ElementCounts();

    [GlobalSetup]
    public void Setup() => _copy = new ParallelMemoryCopy(Elements, Environment.ProcessorCount);

    [Benchmark]
    public void Run() => _copy!.Run();
}
