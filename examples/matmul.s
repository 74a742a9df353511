; C = A B for int8 A (64x64) and B (64x64), int32 C, on small16's 16x16 MXM: a hand-scheduled,
; weight-stationary matmul that keeps the MXM multiplying in 1024 of its 1055 cycles.
;
; configs: small16
;
; Floorplan of small16, west to east (L = 16 lanes):
;   position  0    1    2    3    4    5    6    7    8    9    10
;   slice     mem0 mem1 mem2 mem3 vxm0 mem4 mem5 mem6 mem7 sxm0 mxm0
;
; The product is 16 weight tiles B[16kt:16kt+16, 16nt:16nt+16], tile i = 4 nt + kt. Tile i is
; the MXM's active weights for the 64 cycles T(i) = T0 + 64 i .. T(i) + 63, in which mm takes
; the 64 activation rows A[m, 16kt:16kt+16] one per cycle and sets (kt = 0) or adds (kt > 0) its
; 16 dot products into accumulator row m. Double buffering hides every weight load after the
; first: while tile i-1 computes, the 16 rows of tile i are loaded one every 4 cycles into the
; shadow buffer, and `iw` in cycle T(i) - 1 installs them for the mm of cycle T(i).
;
;   mem0 holds A as 256 words, word 64 kt + m = A[m, 16kt:16kt+16]; it reads the 256 words in
;        order once per output tile column nt, on e0 (11 cycles to the MXM).
;   mem7 holds B's tiles as 256 words, word 16 i + r = row r of tile i, read on e4 (3 cycles).
;   After the 4th tile of a column, accrd puts the 64 int32 rows of C[:, 16nt:16nt+16] on the
;   westward group w0:4, and mem4..mem7 store byte k of each in mem(4+k), word 256 + 64 nt + m
;   (the layout `.data mem4, mem5, mem6, mem7 @ 256` with .i32 would give).
;
;   conveyor run examples/matmul.s --json                  (golden model: cycles, mxm_utilization)
;   conveyor run examples/matmul.s --backend verilator --json

.equ ROWS, 64                       ; M: activation rows, and accumulator rows used
.equ OUT, 256                       ; C's first word in mem4..mem7
.equ A_HOPS, latency(read) + position(mxm0) - position(mem0)     ; 11: mem0 read -> at mxm0
.equ B_HOPS, latency(read) + position(mxm0) - position(mem7)     ; 3:  mem7 read -> at mxm0
.equ T0, B_HOPS + 16 + latency(iw)   ; 20: tile 0 loads in cycles 3..18, iw in 19
.equ LAST, latency(mm.add)          ; an accumulator row is complete LAST cycles after its mm

.data mem0 @ 0                      ; A, 64 rows x 4 k-tiles
    .random 256, seed=1
.data mem7 @ 0                      ; B, 16 tiles x 16 rows
    .random 256, seed=2


.queue mem7.rd
    read 0 -> e4                ; tile 0, rows 0..15, in cycles 0..15
    repeat 15, 1, 1
    nop T0 - B_HOPS - 16         ; tile i (i >= 1), row r: read in T(i-1) + 4r - B_HOPS
    read 16 -> e4
    repeat 16 * 15 - 1, 4, 1

.queue mxm0.w
    nop B_HOPS
    lw e4 -> row[0]              ; tile 0: one row per cycle, cycles 3..18
    repeat 15, 1, 1
    iw                           ; cycle T0 - 1: tile 0 is active from T0
    lw e4 -> row[0]              ; tile 1: rows in T(0) + 4r
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(1) - 1
    lw e4 -> row[0]              ; tile 2
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(2) - 1
    lw e4 -> row[0]              ; tile 3
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(3) - 1
    lw e4 -> row[0]              ; tile 4
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(4) - 1
    lw e4 -> row[0]              ; tile 5
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(5) - 1
    lw e4 -> row[0]              ; tile 6
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(6) - 1
    lw e4 -> row[0]              ; tile 7
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(7) - 1
    lw e4 -> row[0]              ; tile 8
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(8) - 1
    lw e4 -> row[0]              ; tile 9
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(9) - 1
    lw e4 -> row[0]              ; tile 10
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(10) - 1
    lw e4 -> row[0]              ; tile 11
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(11) - 1
    lw e4 -> row[0]              ; tile 12
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(12) - 1
    lw e4 -> row[0]              ; tile 13
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(13) - 1
    lw e4 -> row[0]              ; tile 14
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(14) - 1
    lw e4 -> row[0]              ; tile 15
    repeat 15, 4, 1
    nop 2
    iw                           ; cycle T(15) - 1

.queue mem0.rd
    nop T0 - A_HOPS
    read 0 -> e0                ; column 0: A's 256 words, one per cycle
    repeat 255, 1, 1
    read 0 -> e0                ; column 1: A's 256 words, one per cycle
    repeat 255, 1, 1
    read 0 -> e0                ; column 2: A's 256 words, one per cycle
    repeat 255, 1, 1
    read 0 -> e0                ; column 3: A's 256 words, one per cycle
    repeat 255, 1, 1

.queue mxm0.mm
    nop T0
    mm.set e0 -> acc[0]           ; tile 0: C[:, 0..] = A[:, 0..] B[0.., 0..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 1: C[:, 0..] += A[:, 16..] B[16.., 0..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 2: C[:, 0..] += A[:, 32..] B[32.., 0..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 3: C[:, 0..] += A[:, 48..] B[48.., 0..]
    repeat ROWS - 1, 1, 1
    mm.set e0 -> acc[0]           ; tile 4: C[:, 16..] = A[:, 0..] B[0.., 16..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 5: C[:, 16..] += A[:, 16..] B[16.., 16..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 6: C[:, 16..] += A[:, 32..] B[32.., 16..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 7: C[:, 16..] += A[:, 48..] B[48.., 16..]
    repeat ROWS - 1, 1, 1
    mm.set e0 -> acc[0]           ; tile 8: C[:, 32..] = A[:, 0..] B[0.., 32..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 9: C[:, 32..] += A[:, 16..] B[16.., 32..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 10: C[:, 32..] += A[:, 32..] B[32.., 32..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 11: C[:, 32..] += A[:, 48..] B[48.., 32..]
    repeat ROWS - 1, 1, 1
    mm.set e0 -> acc[0]           ; tile 12: C[:, 48..] = A[:, 0..] B[0.., 48..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 13: C[:, 48..] += A[:, 16..] B[16.., 48..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 14: C[:, 48..] += A[:, 32..] B[32.., 48..]
    repeat ROWS - 1, 1, 1
    mm.add e0 -> acc[0]           ; tile 15: C[:, 48..] += A[:, 48..] B[48.., 48..]
    repeat ROWS - 1, 1, 1

; Row m of column nt is complete LAST cycles after the mm of tile 4 nt + 3 for m, and
; the next column's mm.set reaches row m 64 cycles after that: one set of 64 accumulator
; rows is enough.
.queue mxm0.acc
    nop T0 + 3 * 64 + LAST
    accrd acc[0] -> w0:4          ; column 0
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    accrd acc[0] -> w0:4          ; column 1
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    accrd acc[0] -> w0:4          ; column 2
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    accrd acc[0] -> w0:4          ; column 3
    repeat ROWS - 1, 1, 1

.queue mem4.wr
    nop T0 + 3 * 64 + LAST + latency(accrd) + position(mxm0) - position(mem4)
    write w0 -> OUT + 0       ; byte 0 of column 0
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w0 -> OUT + 64       ; byte 0 of column 1
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w0 -> OUT + 128       ; byte 0 of column 2
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w0 -> OUT + 192       ; byte 0 of column 3
    repeat ROWS - 1, 1, 1

.queue mem5.wr
    nop T0 + 3 * 64 + LAST + latency(accrd) + position(mxm0) - position(mem5)
    write w1 -> OUT + 0       ; byte 1 of column 0
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w1 -> OUT + 64       ; byte 1 of column 1
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w1 -> OUT + 128       ; byte 1 of column 2
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w1 -> OUT + 192       ; byte 1 of column 3
    repeat ROWS - 1, 1, 1

.queue mem6.wr
    nop T0 + 3 * 64 + LAST + latency(accrd) + position(mxm0) - position(mem6)
    write w2 -> OUT + 0       ; byte 2 of column 0
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w2 -> OUT + 64       ; byte 2 of column 1
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w2 -> OUT + 128       ; byte 2 of column 2
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w2 -> OUT + 192       ; byte 2 of column 3
    repeat ROWS - 1, 1, 1

.queue mem7.wr
    nop T0 + 3 * 64 + LAST + latency(accrd) + position(mxm0) - position(mem7)
    write w3 -> OUT + 0       ; byte 3 of column 0
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w3 -> OUT + 64       ; byte 3 of column 1
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w3 -> OUT + 128       ; byte 3 of column 2
    repeat ROWS - 1, 1, 1
    nop 4 * 64 - ROWS
    write w3 -> OUT + 192       ; byte 3 of column 3
    repeat ROWS - 1, 1, 1
