; A loop over 64 vectors in a few instruction words: y = max(x, z) - 1, int8.
;
; Every queue issues one instruction and then `repeat 63, 1[, 1]`: 64 issues, one per cycle,
; stepping the MEM address by 1. ALU 0 computes max(x, z) onto e1 at vxm0's own position, and
; ALU 1 reads it there in the next cycle (two ALUs of one slice chain without a detour).
;   position  0    1    2    3    4    5    6
;   slice     mem0 mem1 mem2 mem3 vxm0 mem4 mem5
; Latencies (docs/isa.md): read 1, max.i8 1, sub.i8 1, write 1.
;
;   conveyor run examples/loop64.s --dump mem4:60:4

.equ N, 64

.queue mem0.rd
    read 0 -> e0                ; x: at vxm0 (position 4) in cycle 5
    repeat N-1, 1, 1
.queue mem5.rd
    nop 2
    read 0 -> w0                ; z: at vxm0 in cycle 5
    repeat N-1, 1, 1

.queue vxm0.alu0
    nop 5
    max.i8 e0, w0 -> e1         ; on e1 at position 4 in cycle 6
    repeat N-1, 1
.queue vxm0.alu1
    nop 6
    sub.i8 e1, 1 -> e2          ; reads ALU 0's result in the cycle it appears
    repeat N-1, 1

.queue mem4.wr
    nop 8
    write e2 -> 0               ; e2 reaches mem4 (position 5) in cycle 8
    repeat N-1, 1, 1

.data mem0 @ 0
    .random N, seed=3
.data mem5 @ 0
    .random N, seed=4
