import CBLAS

/// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major, through OpenBLAS.
/// `op(A)` is `m x k` (A is `k x m` when `transA`), `op(B)` is `k x n`.
///
/// The engine runs OpenBLAS single-threaded and splits large products itself into
/// column (or row) blocks, one per thread of the `Compute` in force: on few cores this beats OpenBLAS's own
/// threads, whose spinning between calls steals the CPU from every other kernel.
public func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                  _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                  _ b: UnsafePointer<Float>, _ ldb: Int,
                  _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    let compute = Compute.current(), workers = compute.threads
    if workers <= 1 || m * n * k < compute.minimumParallelWork {
        sgemmBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    } else if n >= 64 * workers {
        Parallel.forEachChunk(n, minimumPerChunk: 32) { cols in
            let j0 = cols.lowerBound
            let bj = transB ? b + j0 * ldb : b + j0
            sgemmBLAS(transA, transB, m, cols.count, k, alpha, a, lda, bj, ldb, beta, c + j0, ldc)
        }
    } else if m >= 16 * workers {
        Parallel.forEachChunk(m, minimumPerChunk: 8) { rows in
            let i0 = rows.lowerBound
            let ai = transA ? a + i0 : a + i0 * lda
            sgemmBLAS(transA, transB, rows.count, n, k, alpha, ai, lda, b, ldb, beta, c + i0 * ldc, ldc)
        }
    } else {
        sgemmBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

/// One OpenBLAS call, on the calling thread.
@inline(__always)
public func sgemmBLAS(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                  _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                  _ b: UnsafePointer<Float>, _ ldb: Int,
                  _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The naive twin of `sgemm`, in Double accumulation: the oracle for tests and for
/// the start-up check of whichever OpenBLAS core was picked.
public func sgemmNaive(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                       _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                       _ b: UnsafePointer<Float>, _ ldb: Int,
                       _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc += Double(av) * Double(bv)
            }
            let prior = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * acc + prior)
        }
    }
}
