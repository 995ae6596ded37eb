using VectorRecall.Server;

namespace VectorRecall.Tests.Server;

public class RequestDeadlineTests
{
    [Fact]
    public async Task AFiredDeadlineIsNeverHandedToTheNextRequest()
    {
        var fired = RequestDeadline.Start(CancellationToken.None, TimeSpan.FromMilliseconds(1));
        await Task.Delay(200);
        Assert.True(fired.IsCancellationRequested);
        fired.Dispose();
        for (int i = 0; i < 4; i++)
        {
            using var next = RequestDeadline.Start(CancellationToken.None, TimeSpan.FromMinutes(1));
            Assert.False(next.IsCancellationRequested);
        }
    }

    [Fact]
    public void AClientThatGoesAwayCancelsItsRequestAloneAndAReturnedDeadlineIsQuiet()
    {
        using var client = new CancellationTokenSource();
        var deadline = RequestDeadline.Start(client.Token, TimeSpan.FromMinutes(1));
        var other = RequestDeadline.Start(CancellationToken.None, TimeSpan.FromMinutes(1));
        client.Cancel();
        Assert.True(deadline.IsCancellationRequested);
        Assert.False(other.IsCancellationRequested);
        other.Dispose();
        // The source other returned is reused, unlinked from any earlier client and with its timer stopped.
        using var reused = RequestDeadline.Start(CancellationToken.None, TimeSpan.FromMinutes(1));
        Assert.False(reused.IsCancellationRequested);
        deadline.Dispose();
    }
}
