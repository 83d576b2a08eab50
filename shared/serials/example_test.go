package serials_test

import (
	"fmt"
	"strings"

	"github.com/serialine/serialine/shared/serials"
)

func ExampleNew() {
	// In production the key comes from the product's secret store.
	s, err := serials.New(serials.Spec{Kind: serials.KindRandomized, Length: 12, Key: "000102030405060708090a0b0c0d0e0f"})
	if err != nil {
		panic(err)
	}
	// Central granted counters 0..2 to this line.
	var buf []byte
	for c := uint64(0); c < 3; c++ {
		buf, _ = s.Serial(buf[:0], c)
		fmt.Println(string(buf))
	}
	fmt.Println(serials.CheckFMD(serials.Spec{Kind: serials.KindRandomized, Length: 12, Key: "000102030405060708090a0b0c0d0e0f"}, 50_000_000))
	// Output:
	// 436372746737
	// 892945950256
	// 961285335923
	// <nil>
}

func ExampleParseList() {
	csv := "serial,gtin\nA1,09506000134352\nB 2,09506000134352\nA1,09506000134352\n"
	_, err := serials.ParseList(strings.NewReader(csv), serials.ListSpec{GTIN: "09506000134352"})
	fmt.Println(err)
	// Output:
	// serial list rejected, nothing imported: 2 problems
	// line 3: serial "B 2": space at position 2 is not in CSET 82
	// line 4: serial "A1": duplicate of line 2
}
