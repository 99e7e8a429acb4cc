// The synchronous surface of the asynchronous client. Its callers are synchronous: an autorater is
// called through the C plugin ABI (persona_abi.h) and reports progress on the caller's thread; the
// pipeline's AnswerEngine.generate blocks until its answers exist. The work itself is Swift tasks
// (a task group with a window of `concurrency` jobs) that run on the calling thread: they prefer a
// CallerThreadExecutor that the caller drains while it waits. A request's wait holds no thread (the
// reply, the deadline or a retry's timer enqueues the task again), jobs interleave at their
// suspension points, and no job needs the cooperative pool, so calling from inside a task cannot
// starve it (the calling thread is the one that blocks). No thread hop per call either: a transport
// that answers at once (the judge-reply fuzzer's) runs the whole batch inline.
import Foundation
import Dispatch

/// Runs a batch of asynchronous jobs from synchronous code, at most `concurrency` at once.
public enum BoundedBatch {
    /// Runs `job(0)`, …, `job(count − 1)` with at most `concurrency` running at once and blocks until
    /// all are done. Results come back in job order; `progress(done)` is called on the calling thread
    /// (it need not escape). The first error a job throws cancels the jobs still running (their
    /// requests end, their retries stop), starts no new one, and is rethrown.
    public static func run<T: Sendable>(
        count: Int, concurrency: Int, progress: (Int) -> Void = { _ in },
        _ job: @escaping @Sendable (Int) async throws -> T
    ) throws -> [T] {
        guard count > 0 else { return [] }
        let width = min(max(concurrency, 1), count)
        let state = BatchState<[T]>()
        let executor = CallerThreadExecutor()
        executor.start {
            do {
                let results = try await withThrowingTaskGroup(of: (Int, T).self) { group -> [T?] in
                    var results = [T?](repeating: nil, count: count)
                    var next = 0, done = 0
                    while next < width { let i = next; group.addTask { (i, try await job(i)) }; next += 1 }
                    while let (i, value) = try await group.next() {
                        results[i] = value
                        done += 1
                        state.progressed(done)
                        if next < count { let j = next; group.addTask { (j, try await job(j)) }; next += 1 }
                    }
                    return results
                }
                state.finish(
                    Result {
                        try results.enumerated().map { i, r in
                            guard let r else { throw PostFailure.gaveUp(reason: "internal: job \(i) did not finish") }
                            return r
                        }
                    })
            } catch {
                state.finish(.failure(error))
            }
        }
        var reported = 0
        while true {
            executor.runQueuedJobs()
            let (done, outcome) = state.read()
            if let outcome {
                let results = try outcome.get()
                if done > reported { progress(done) }
                return results
            }
            if done > reported { reported = done; progress(done) }
        }
    }
}

/// Runs one asynchronous operation from synchronous code, on the calling thread (as BoundedBatch).
public enum Blocking {
    /// Runs `operation` as a task and blocks the calling thread until it returns.
    public static func run<T: Sendable>(_ operation: @escaping @Sendable () async -> T) -> T {
        let state = BatchState<T>()
        let executor = CallerThreadExecutor()
        executor.start { state.finish(.success(await operation())) }
        while true {
            executor.runQueuedJobs()
            if case let .success(value)? = state.read().outcome { return value }
        }
    }
}

/// What the tasks hand the waiting caller: a count of finished jobs, then the outcome.
private final class BatchState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    private var outcome: Result<Value, Error>?

    func progressed(_ count: Int) { lock.lock(); done = count; lock.unlock() }
    func finish(_ result: Result<Value, Error>) { lock.lock(); outcome = result; lock.unlock() }
    func read() -> (done: Int, outcome: Result<Value, Error>?) {
        lock.lock(); defer { lock.unlock() }
        return (done, outcome)
    }
}

/// A task executor whose jobs run on the thread that calls `runQueuedJobs`. Tasks started with
/// `start` prefer it, and so do their child tasks (task executor preference is inherited).
private final class CallerThreadExecutor: @unchecked Sendable {
    private let lock = NSLock()
    private var queue: [UnownedJob] = []
    private let arrived = DispatchSemaphore(value: 0)

    /// Starts `operation` as a task on this executor (it runs at the next `runQueuedJobs`). Before
    /// task executors (Apple systems before macOS 15), it runs on the shared pool and ends by waking
    /// the caller.
    func start(_ operation: @escaping @Sendable () async -> Void) {
        if #available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *) {
            Task(executorPreference: self) { await operation() }
        } else {
            Task.detached { [self] in
                await operation(); wake()
            }
        }
    }

    /// Waits until a job arrives (or `wake`), then runs every job queued, including those the jobs enqueue.
    func runQueuedJobs() {
        arrived.wait()
        while let job = next() { job.run(on: self) }
    }

    func wake() { arrived.signal() }

    fileprivate func add(_ job: UnownedJob) {
        lock.lock(); queue.append(job); lock.unlock()
        arrived.signal()
    }

    private func next() -> UnownedJob? {
        lock.lock(); defer { lock.unlock() }
        return queue.isEmpty ? nil : queue.removeFirst()
    }
}

@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
extension CallerThreadExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) { add(UnownedJob(job)) }
}

extension UnownedJob {
    /// Runs the job on `executor` (its task keeps preferring it).
    fileprivate func run(on executor: CallerThreadExecutor) {
        if #available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *) {
            runSynchronously(on: executor.asUnownedTaskExecutor())
        }
    }
}
