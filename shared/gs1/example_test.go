package gs1_test

import (
	"errors"
	"fmt"

	"github.com/serialine/serialine/shared/gs1"
)

func ExampleParse() {
	es, err := gs1.Parse("]d201095060001343521720122510ABC123\x1d21XYZ")
	if err != nil {
		panic(err)
	}
	fmt.Println(es.Bracketed())
	lot, _ := es.Get("10")
	fmt.Println(lot)
	// Output:
	// (01)09506000134352(17)201225(10)ABC123(21)XYZ
	// ABC123
}

func ExampleElementString_DigitalLink() {
	es, _ := gs1.ParseBracketed("(01)09506000134352(17)201225(10)ABC123(21)XYZ")
	uri, _ := es.DigitalLink("")
	fmt.Println(uri)
	// Output: https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ?17=201225
}

func ExampleElementString_Transmitted() {
	es := gs1.ElementString{{AI: "01", Value: "09506000134352"}, {AI: "10", Value: "ABC"}, {AI: "21", Value: "S1"}, {AI: "17", Value: "251231"}}
	fmt.Printf("%q\n", es.Transmitted())
	fmt.Printf("%q\n", es.Sorted().Transmitted())
	// Output:
	// "010950600013435210ABC\x1d21S1\x1d17251231"
	// "01095060001343521725123110ABC\x1d21S1"
}

func ExampleError() {
	_, err := gs1.Parse("(01)09506000134352(17)250229")
	var ge *gs1.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.AI, ge.Rule)
	}
	fmt.Println(err)
	// Output:
	// 17 date
	// AI (17) "250229": date: day 29 does not exist in February 2025
}

func ExampleSGTINURI() {
	uri, _ := gs1.SGTINURI("80614141123458", "6789", 7)
	fmt.Println(uri)
	g, serial, _ := gs1.ParseSGTINURI(uri)
	fmt.Println(g, serial)
	// Output:
	// urn:epc:id:sgtin:0614141.812345.6789
	// 80614141123458 6789
}
