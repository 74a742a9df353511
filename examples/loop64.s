; A loop over 64 vectors in a few instruction words: y = max(x, z) - 1, int8.
;
; Every queue issues one instruction and then `repeat 63, 1[, 1]`: 64 issues, one per cycle,
; stepping the MEM address by 1. ALU 0 computes max(x, z) onto e1 at vxm0's own position, and
; ALU 1 reads it there as it appears (two ALUs of one slice chain without a detour).
;   position  0    1    2    3    4    5    6
;   slice     mem0 mem1 mem2 mem3 vxm0 mem4 mem5
;
;   conveyor run examples/loop64.s --dump mem4:60:4

.equ N, 64
.equ MEET, latency(read) + position(vxm0) - position(mem0)   ; x and z meet: cycle 5
.equ MAXED, MEET + latency(max.i8)                           ; max(x, z) on e1: cycle 6
.equ SUBBED, MAXED + latency(sub.i8)                         ; y on e2: cycle 7

.queue mem0.rd
    read 0 -> e0                ; x
    repeat N-1, 1, 1
.queue mem5.rd
    nop MEET - latency(read) - (position(mem5) - position(vxm0))
    read 0 -> w0                ; z
    repeat N-1, 1, 1

.queue vxm0.alu0
    nop MEET
    max.i8 e0, w0 -> e1
    repeat N-1, 1
.queue vxm0.alu1
    nop MAXED
    sub.i8 e1, 1 -> e2          ; reads ALU 0's result in the cycle it appears
    repeat N-1, 1

.queue mem4.wr
    nop SUBBED + position(mem4) - position(vxm0)             ; cycle 8
    write e2 -> 0
    repeat N-1, 1, 1

.data mem0 @ 0
    .random N, seed=3
.data mem5 @ 0
    .random N, seed=4
