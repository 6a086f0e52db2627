namespace OnnxMemOpt.Bench.Kernels;

/// <summary>
/// The second copy baseline: Buffer.MemoryCopy of N floats (4N bytes read + 4N written) split
/// into one contiguous slice per thread, so it gets the same cores as the kernels.
/// </summary>
public sealed unsafe class ParallelMemoryCopy
{
    private readonly float[] _source;
    private readonly float[] _destination;
    private readonly int _threads;

    public ParallelMemoryCopy(long elements, int threads)
    {
        _source = new float[elements];
        _destination = new float[elements];
        _threads = threads;
        new Random(1).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_source.AsSpan()));
        Run();
    }

    public long Elements => _source.LongLength;

    public double BytesMoved => 8.0 * Elements;

    public void Run()
    {
        long slice = (Elements + _threads - 1) / _threads;
        Parallel.For(0, _threads, new ParallelOptions { MaxDegreeOfParallelism = _threads }, t =>
        {
            long begin = t * slice;
            long count = Math.Min(slice, Elements - begin);
            if (count <= 0)
            {
                return;
            }
            fixed (float* source = &_source[begin])
            fixed (float* destination = &_destination[begin])
            {
                Buffer.MemoryCopy(source, destination, count * sizeof(float), count * sizeof(float));
            }
        });
    }
}
