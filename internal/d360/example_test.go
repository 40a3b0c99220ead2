package d360_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
)

func ExampleClient_Send() {
	// A stand-in for 360dialog; in production BaseURL is left empty
	// (d360.DefaultBaseURL) and the key comes from the environment.
	api := d360test.New(d360test.Config{APIKey: "example-key"})
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer api.Close()

	client, err := d360.New(d360.Config{BaseURL: srv.URL, APIKey: "example-key"})
	if err != nil {
		fmt.Println("configuring client:", err)
		return
	}
	resp, err := client.Send(context.Background(), []byte(`{
		"messaging_product": "whatsapp",
		"to": "+1 555 000 1111",
		"type": "text",
		"text": {"body": "Your order has shipped."}
	}`))
	if err != nil {
		fmt.Println("sending:", err, "class:", d360.Classify(err))
		return
	}
	fmt.Println("wa_id:", resp.WAID)
	fmt.Println("has wamid:", strings.HasPrefix(resp.MessageID, "wamid."))
	// Output:
	// wa_id: 15550001111
	// has wamid: true
}
