using OnnxMemOpt.Memory.Runtime;

namespace OnnxMemOpt.Tests.Memory;

/// <summary>Where a replayed step peaks and what holds the arena there (the bench's estimated_peak_at).</summary>
public class ArenaReplayPeakTests
{
    [Fact]
    public void ThePeakIsTheNodeHoldingTheMostAndItsLiveBuffersAreListedLargestFirst()
    {
        RuntimeNode Node(int index, string output) => new(index, $"n{index}", "", "Relu", [], [output]);
        var timeline = new ArenaTimeline(
            [Node(0, "a"), Node(1, "b"), Node(2, "c")],
            new Dictionary<string, string>(),
            [
                new BufferLife("a", 100, AllocatedAt: 0, ReleasedAfter: 1),
                new BufferLife("b", 200, AllocatedAt: 1, ReleasedAfter: 2),
                new BufferLife("c", 50, AllocatedAt: 2, ReleasedAfter: null),
            ]);
        // Replayed on the arena model: each request rounds up to 256 bytes; while n1 runs a and b are held.
        ArenaReplay replay = BfcArenaReplay.Replay(timeline, runs: 1);

        Assert.Equal(1, replay.PeakStep);
        Assert.Equal("n1", replay.PeakNode!.Name);
        Assert.Equal(replay.MaxInUse, replay.StepBytes[1]);
        Assert.Equal(["b", "a"], replay.LiveAtPeak(5).Select(l => l.Value));
        Assert.Equal(["b"], replay.LiveAtPeak(1).Select(l => l.Value));
    }
}
