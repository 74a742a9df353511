// RUN: conveyor opt %s | conveyor opt - | filecheck %s

// Every graph op prints in the generic form and parses back; dense data in list or splat
// form prints as hex; comments, odd spacing and line breaks inside an op are accepted.
// CHECK:      module @"round trip" attributes {level = "graph"} {
// CHECK-NEXT:   %x = graph.input {name = "x:0"} : tensor<4x4x2xi8>
// CHECK-NEXT:   %w = graph.const {value = dense<"0x01FF7F80"> : tensor<1x1x2x2xi8>} : tensor<1x1x2x2xi8>
// CHECK-NEXT:   %b = graph.const {value = dense<"0xFFFFFFFF00000080"> : tensor<2xi32>} : tensor<2xi32>
// CHECK-NEXT:   %c = graph.conv2d %x, %w, %b {stride = 2, pad = 0, pad_value = 0, mul = [1, 2147483647], shift = 31, zp = -128, relu = false, rounding = "single"} : tensor<2x2x2xi8>
// CHECK-NEXT:   %p = graph.maxpool2x2 %c : tensor<1x1x2xi8>
// CHECK-NEXT:   %f = graph.reshape %p {shape = [1, 2]} : tensor<1x2xi8>
// CHECK-NEXT:   %w2 = graph.const {value = dense<"0x0102030405060708"> : tensor<2x4xi8>} : tensor<2x4xi8>
// CHECK-NEXT:   %m = graph.matmul %f, %w2 : tensor<1x4xi32>
// CHECK-NEXT:   %b2 = graph.const {value = dense<"0x00000000000000000000000000000000"> : tensor<4xi32>} : tensor<4xi32>
// CHECK-NEXT:   %l = graph.linear %f, %w2, %b2 {mul = 1, shift = 0, zp = 127, relu = true, rounding = "double"} : tensor<1x4xi8>
// CHECK-NEXT:   %a = graph.add %m, %l {mul = 5, shift = 1, zp = 0, relu = false} : tensor<1x4xi8>
// CHECK-NEXT:   %r = graph.relu %a {zp = 0} : tensor<1x4xi8>
// CHECK-NEXT:   graph.output %r {name = "y"}
// CHECK-NEXT:   graph.output %m {name = "acc"}
// CHECK-NEXT: }
module @"round trip" attributes {level = "graph"} {
  %x = graph.input {name = "x:0"} : tensor<4x4x2xi8>   // an ONNX-style name
  %w = graph.const {value = dense<[[[[1, -1], [127, -128]]]]> : tensor<1x1x2x2xi8>} : tensor<1x1x2x2xi8>
  %b = graph.const {value = dense<"0xFFFFFFFF00000080"> : tensor<2xi32>} : tensor<2xi32>
  %c = graph.conv2d %x, %w, %b {stride = 2, pad = 0, pad_value = 0,
                                mul = [1, 2147483647], shift = 31, zp = -128, relu = false,
                                rounding = "single"}
       : tensor<2x2x2xi8>
  %p = graph.maxpool2x2 %c : tensor<1x1x2xi8>
  %f = graph.reshape %p {shape = [1, 2]} : tensor<1x2xi8>
  %w2 = graph.const {value = dense<[1, 2, 3, 4, 5, 6, 7, 8]> : tensor<2x4xi8>} : tensor<2x4xi8>
  %m = graph.matmul %f,%w2:tensor<1x4xi32>
  %b2 = graph.const {value = dense<0> : tensor<4xi32>} : tensor<4xi32>
  %l = graph.linear %f, %w2, %b2 {mul = 1, shift = 0, zp = 127, relu = true, rounding = "double"} : tensor<1x4xi8>
  %a = graph.add %m, %l {mul = 5, shift = 1, zp = 0, relu = false} : tensor<1x4xi8>
  %r = graph.relu %a {zp = 0} : tensor<1x4xi8>
  graph.output %r {name = "y"}
  graph.output %m {name = "acc"}
}
