; The SXM on a 16x16 int8 tile X (small16): X transposed (a corner turn), X with its lanes
; reversed by a permute map, and X rotated by 3 lanes.
;
; configs: small16
;
; Floorplan of small16, west to east:
;   position  0    1    2    3    4    5    6    7    8    9    10
;   slice     mem0 mem1 mem2 mem3 vxm0 mem4 mem5 mem6 mem7 sxm0 mxm0
;
; mem0 sends X's 16 rows east on e0 three times; each pass reaches sxm0 ARRIVE cycles after its
; reads. The SXM has one queue, so it works on one pass after the other:
;   1. tr.in writes the rows into the transpose buffer (cycles 10..25); tr.out reads its 16
;      columns back out onto w0 (26..41), and mem7 stores X^T at words 16..31.
;   2. The second pass meets the map m[j] = 15 - j, which mem1 sends on e1 with every row:
;      permute puts X[r][15 - j] in lane j onto w1, and mem6 stores the rows at words 32..47.
;   3. rotate gives lane j lane (j - 3) mod 16 of the third pass onto w2; mem5 stores it at
;      words 48..63.
;
;   conveyor run examples/transpose.s --dump mem7:16:16

.equ L, 16
.equ ARRIVE, latency(read) + position(sxm0) - position(mem0)   ; 10
.equ TIN, ARRIVE                    ; cycles of the four phases at sxm0
.equ TOUT, TIN + L
.equ TPERM, TOUT + L
.equ TROT, TPERM + L

.data mem0 @ 0
    .random L, seed=7
.data mem1 @ 0                      ; the permute map: lane j takes lane 15 - j
    .i8 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0

.queue mem0.rd
    read 0 -> e0                    ; pass 1: rows 0..15 in cycles 0..15
    repeat L - 1, 1, 1
    nop TPERM - ARRIVE - L
    read 0 -> e0                    ; pass 2, cycles 32..47
    repeat L - 1, 1, 1
    read 0 -> e0                    ; pass 3, cycles 48..63
    repeat L - 1, 1, 1

.queue mem1.rd
    nop TPERM - (latency(read) + position(sxm0) - position(mem1))
    read 0 -> e1                    ; the map, once for every row of pass 2
    repeat L - 1, 1

.queue sxm0
    nop TIN
    tr.in e0 -> row[0]              ; row r of X into row r of the buffer
    repeat L - 1, 1, 1
    tr.out col[0] -> w0             ; column c of the buffer = row c of X^T
    repeat L - 1, 1, 1
    permute e0, e1 -> w1
    repeat L - 1, 1
    rotate e0 -> w2, 3
    repeat L - 1, 1

.queue mem7.wr
    nop TOUT + latency(tr.out) + position(sxm0) - position(mem7)
    write w0 -> 16
    repeat L - 1, 1, 1
.queue mem6.wr
    nop TPERM + latency(permute) + position(sxm0) - position(mem6)
    write w1 -> 32
    repeat L - 1, 1, 1
.queue mem5.wr
    nop TROT + latency(rotate) + position(sxm0) - position(mem5)
    write w2 -> 48
    repeat L - 1, 1, 1
