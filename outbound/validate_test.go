package outbound

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sendBody wraps a content object in an envelope for a phone number.
func sendBody(typ, content string) string {
	return `{"messaging_product":"whatsapp","to":"15550001111","type":"` + typ + `","` + typ + `":` + content + `}`
}

// replyButtons returns an interactive reply-button message with the given
// replyButtons array.
func replyButtons(list string) string {
	return sendBody("interactive", `{"type":"button","body":{"text":"Continue?"},"action":{"buttons":`+list+`}}`)
}

func replyButton(id, title string) string {
	return `{"type":"reply","reply":{"id":"` + id + `","title":"` + title + `"}}`
}

// listMsg returns an interactive list message with the given sections array.
func listMsg(sections string) string {
	return sendBody("interactive", `{"type":"list","body":{"text":"Pick one"},"action":{"button":"Choose","sections":`+sections+`}}`)
}

// listRows returns n list rows with ids prefix+"a", prefix+"b", ...
func listRows(prefix string, n int) string {
	var b []string
	for i := range n {
		id := prefix + string(rune('a'+i))
		b = append(b, `{"id":"`+id+`","title":"`+id+`"}`)
	}
	return "[" + strings.Join(b, ",") + "]"
}

// flowMsg returns a flow message with the given parameters object.
func flowMsg(params string) string {
	return sendBody("interactive", `{"type":"flow","body":{"text":"Book a table"},"action":{"name":"flow","parameters":`+params+`}}`)
}

// productListMsg returns a product_list message with the given sections.
func productListMsg(sections string) string {
	return sendBody("interactive", `{"type":"product_list","header":{"type":"text","text":"Our picks"},"body":{"text":"Take a look"},"action":{"catalog_id":"CATALOG_ID","sections":`+sections+`}}`)
}

func productItems(prefix string, n int) string {
	var b []string
	for i := range n {
		b = append(b, `{"product_retailer_id":"`+prefix+string(rune('a'+i%26))+string(rune('a'+i/26))+`"}`)
	}
	return "[" + strings.Join(b, ",") + "]"
}

// templateMsg returns a template message order_update in en_US with the given
// components array.
func templateMsg(components string) string {
	return sendBody("template", `{"name":"order_update","language":{"code":"en_US"},"components":`+components+`}`)
}

// bodyComponent returns a template body component with the given parameters.
func bodyComponent(params ...string) string {
	return `{"type":"body","parameters":[` + strings.Join(params, ",") + `]}`
}

func textParam(s string) string { return `{"type":"text","text":"` + s + `"}` }

func namedParam(name, s string) string {
	return `{"type":"text","parameter_name":"` + name + `","text":"` + s + `"}`
}

func buttonComponent(sub, index, params string) string {
	return `{"type":"button","sub_type":"` + sub + `","index":` + index + `,"parameters":` + params + `}`
}

func reactionMsg(emoji string) string {
	return sendBody("reaction", `{"message_id":"wamid.XXX","emoji":"`+emoji+`"}`)
}

// validExamples are one valid body per message type and sub-type of the
// reference (§3), and envelope variants. They seed FuzzValidate too.
var validExamples = []struct{ name, body string }{
	// Envelope.
	{"type defaults to text", `{"to":"15550001111","text":{"body":"hi"}}`},
	{"messaging_product left out", `{"to":"15550001111","type":"text","text":{"body":"hi"}}`},
	{"phone with punctuation", `{"to":"+1 (555) 000-1111","text":{"body":"hi"}}`},
	{"phone of 8 digits", `{"to":"+500 12345","text":{"body":"hi"}}`},
	{"phone of 15 digits", `{"to":"123456789012345","text":{"body":"hi"}}`},
	{"recipient BSUID", `{"recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}}`},
	{"recipient parent BSUID", `{"recipient":"US.ENT.99887766554433221100","text":{"body":"hi"}}`},
	{"empty to beside recipient", `{"to":"","recipient":"US.1","text":{"body":"hi"}}`},
	{"individual", `{"recipient_type":"individual","to":"15550001111","text":{"body":"hi"}}`},
	{"group id", `{"recipient_type":"group","to":"120363025246125888@g.us","text":{"body":"hi"}}`},
	{"reply with context", `{"to":"15550001111","context":{"message_id":"wamid.QUOTED"},"text":{"body":"hi"}}`},
	{"callback data of 512 characters", `{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"` + strings.Repeat("é", 512) + `"}`},
	{"identity key hash", `{"to":"15550001111","text":{"body":"hi"},"recipient_identity_key_hash":"abc"}`},
	{"nulls count as absent", `{"messaging_product":null,"recipient_type":null,"to":"15550001111","recipient":null,"type":null,"context":null,"image":null,"text":{"body":"hi","preview_url":null},"biz_opaque_callback_data":null}`},
	{"unknown fields pass through", `{"to":"15550001111","text":{"body":"hi","x_new":[1]},"x_future":{"a":1}}`},
	{"unknown type with its object", `{"to":"15550001111","type":"x_new","x_new":{"anything":[1,2]}}`},

	// §3.1 text.
	{"text", sendBody("text", `{"body":"See https://example.com","preview_url":true}`)},
	{"text of 4096 characters", sendBody("text", `{"body":"`+strings.Repeat("é", 4096)+`"}`)},

	// §3.2 media.
	{"image by id", sendBody("image", `{"id":"1234567890","caption":"optional"}`)},
	{"image by link", sendBody("image", `{"link":"https://cdn.example.com/a.jpg","caption":"`+strings.Repeat("x", 1024)+`"}`)},
	{"video", sendBody("video", `{"link":"https://cdn.example.com/v.mp4","caption":"..."}`)},
	{"document", sendBody("document", `{"link":"https://cdn.example.com/f.pdf","caption":"...","filename":"invoice.pdf"}`)},
	{"audio", sendBody("audio", `{"id":"1234567890"}`)},
	{"sticker", sendBody("sticker", `{"id":"1234567890"}`)},
	{"link with upper-case scheme", sendBody("image", `{"link":"HTTPS://cdn.example.com/a.jpg"}`)},

	// §3.3 location.
	{"location", sendBody("location", `{"latitude":52.5200,"longitude":13.4050,"name":"HQ","address":"Street 1, Berlin"}`)},
	{"location at the limits", sendBody("location", `{"latitude":-90,"longitude":180.0}`)},
	{"location in exponent form", sendBody("location", `{"latitude":5.2e1,"longitude":-1.3405E1}`)},

	// §3.4 contacts.
	{"contacts", sendBody("contacts", `[{
		"name":   {"formatted_name": "Jane Doe", "first_name": "Jane", "last_name": "Doe"},
		"phones": [{"phone": "+1 555 000 2222", "type": "CELL", "wa_id": "15550002222"}],
		"emails": [{"email": "jane@example.com", "type": "WORK"}],
		"org":    {"company": "Acme", "department": "Ops", "title": "Lead"},
		"urls":   [{"url": "https://example.com", "type": "WORK"}],
		"addresses": [{"street": "1 Main St", "city": "Town", "zip": "12345", "country": "US", "country_code": "us", "type": "HOME"}],
		"birthday": "1990-01-31"}]`)},
	{"contacts, two with few fields", sendBody("contacts", `[{"name":{"formatted_name":"Jane","first_name":"Jane"}},{"name":{"formatted_name":"Dr. X","prefix":"Dr."}}]`)},

	// §3.5 interactive.
	{"button", replyButtons(`[` + replyButton("yes-1", "Yes") + `,` + replyButton("no-1", "No") + `]`)},
	{"button with text header and footer", sendBody("interactive", `{"type":"button","header":{"type":"text","text":"`+strings.Repeat("h", 60)+`"},
		"body":{"text":"`+strings.Repeat("b", 1024)+`"},"footer":{"text":"`+strings.Repeat("f", 60)+`"},
		"action":{"buttons":[`+replyButton(strings.Repeat("i", 256), strings.Repeat("t", 20))+`,`+replyButton("b", "B")+`,`+replyButton("c", "C")+`]}}`)},
	{"button with image header", sendBody("interactive", `{"type":"button","header":{"type":"image","image":{"id":"123"}},"body":{"text":"Like it?"},"action":{"buttons":[`+replyButton("y", "👍 Yes")+`]}}`)},
	{"button with document header", sendBody("interactive", `{"type":"button","header":{"type":"document","document":{"link":"https://cdn.example.com/f.pdf","filename":"f.pdf"}},"body":{"text":"Sign"},"action":{"buttons":[`+replyButton("y", "Yes")+`]}}`)},
	{"list", listMsg(`[
		{"title":"Fruit","rows":[{"id":"apple","title":"Apple","description":"Red, crisp"}]},
		{"title":"Veg","rows":[{"id":"kale","title":"Kale"}]}]`)},
	{"list of one untitled section of 10 rows", listMsg(`[{"rows":` + listRows("r", 10) + `}]`)},
	{"list of 10 rows over two sections", listMsg(`[{"title":"A","rows":` + listRows("a", 5) + `},{"title":"B","rows":` + listRows("b", 5) + `}]`)},
	{"list with text header and footer", sendBody("interactive", `{"type":"list","header":{"type":"text","text":"Menu"},"body":{"text":"Pick"},"footer":{"text":"Thanks"},
		"action":{"button":"`+strings.Repeat("b", 20)+`","sections":[{"title":"`+strings.Repeat("s", 24)+`","rows":[{"id":"`+strings.Repeat("i", 200)+`","title":"`+strings.Repeat("t", 24)+`","description":"`+strings.Repeat("d", 72)+`"}]}]}}`)},
	{"cta_url", sendBody("interactive", `{"type":"cta_url","body":{"text":"Visit us"},"action":{"name":"cta_url","parameters":{"display_text":"Open shop","url":"https://example.com/shop"}}}`)},
	{"cta_url by http with video header", sendBody("interactive", `{"type":"cta_url","header":{"type":"video","video":{"link":"https://cdn.example.com/v.mp4"}},"body":{"text":"Watch"},"action":{"name":"cta_url","parameters":{"display_text":"Open","url":"http://example.com"}}}`)},
	{"flow", flowMsg(`{"flow_message_version":"3","flow_id":"1234567890","flow_token":"opaque-token","flow_cta":"Book now","mode":"published","flow_action":"navigate","flow_action_payload":{"screen":"WELCOME","data":{"k":"v"}}}`)},
	{"flow by name, data_exchange", flowMsg(`{"flow_message_version":"3","flow_name":"my_welcome_flow","flow_cta":"Start","mode":"draft","flow_action":"data_exchange"}`)},
	{"flow with defaults", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Start"}`)},
	{"location_request_message", sendBody("interactive", `{"type":"location_request_message","body":{"text":"Share your location"},"action":{"name":"send_location"}}`)},
	{"product", sendBody("interactive", `{"type":"product","action":{"catalog_id":"CATALOG_ID","product_retailer_id":"SKU-1"}}`)},
	{"product with body and footer", sendBody("interactive", `{"type":"product","body":{"text":"Try it"},"footer":{"text":"Sale"},"action":{"catalog_id":"CATALOG_ID","product_retailer_id":"SKU-1"}}`)},
	{"product_list", productListMsg(`[{"title":"Best sellers","product_items":[{"product_retailer_id":"SKU-1"},{"product_retailer_id":"SKU-2"}]}]`)},
	{"product_list of 30 products", productListMsg(`[{"title":"A","product_items":` + productItems("a", 15) + `},{"title":"B","product_items":` + productItems("b", 15) + `}]`)},
	{"catalog_message", sendBody("interactive", `{"type":"catalog_message","body":{"text":"Browse"},"action":{"name":"catalog_message","parameters":{"thumbnail_product_retailer_id":"SKU-1"}}}`)},
	{"catalog_message without thumbnail", sendBody("interactive", `{"type":"catalog_message","body":{"text":"Browse"},"footer":{"text":"New"},"action":{"name":"catalog_message"}}`)},
	{"unknown interactive type", sendBody("interactive", `{"type":"call_permission_request","body":{"text":"Can we call?"},"action":{"name":"call_permission_request"}}`)},

	// §3.6 template.
	{"template", templateMsg(`[
		{"type":"header","parameters":[{"type":"image","image":{"link":"https://cdn.example.com/h.jpg"}}]},
		{"type":"body","parameters":[
			{"type":"text","text":"Jane"},
			{"type":"currency","currency":{"fallback_value":"$19.99","code":"USD","amount_1000":19990}},
			{"type":"date_time","date_time":{"fallback_value":"March 3, 2026"}}]},
		{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"STOP_PROMOS"}]},
		{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"order/42"}]},
		{"type":"button","sub_type":"copy_code","index":"2","parameters":[{"type":"coupon_code","coupon_code":"SAVE25"}]}]`)},
	{"template without components", sendBody("template", `{"name":"hello_world","language":{"code":"en_US","policy":"deterministic"}}`)},
	{"template named parameters", templateMsg(`[{"type":"header","parameters":[` + namedParam("order_no", "42") + `]},` +
		bodyComponent(namedParam("first_name", "Jane"), `{"type":"currency","parameter_name":"total","currency":{"fallback_value":"$1","code":"usd","amount_1000":1000}}`) + `]`)},
	{"template text header and footer", templateMsg(`[{"type":"header","parameters":[` + textParam(strings.Repeat("h", 60)) + `]},` + bodyComponent(textParam("Jane")) + `,{"type":"footer"}]`)},
	{"template video and document headers", templateMsg(`[{"type":"header","parameters":[{"type":"document","document":{"id":"9","filename":"a.pdf"}}]}]`)},
	{"template location header", templateMsg(`[{"type":"header","parameters":[{"type":"location","location":{"latitude":52.52,"longitude":13.405,"name":"HQ","address":"Berlin"}}]}]`)},
	{"template body-only parameter of 32768 characters", templateMsg(`[` + bodyComponent(textParam(strings.Repeat("x", 32768))) + `]`)},
	{"template button index as number", templateMsg(`[` + buttonComponent("quick_reply", "9", `[{"type":"payload","payload":"P"}]`) + `]`)},
	{"template url parameter of 2000 characters", templateMsg(`[` + buttonComponent("url", "0", `[{"type":"text","text":"`+strings.Repeat("u", 2000)+`"}]`) + `]`)},
	{"template flow and catalog buttons", templateMsg(`[` + buttonComponent("flow", "0", `[{"type":"action","action":{"flow_token":"t"}}]`) + `,` +
		buttonComponent("catalog", "1", `[{"type":"action","action":{"thumbnail_product_retailer_id":"SKU-1"}}]`) + `,` +
		buttonComponent("voice_call", "2", `[]`) + `,` + buttonComponent("x_future", "3", `[{"type":"x"}]`) + `]`)},
	{"template with ten buttons", templateMsg(`[` + strings.Join(func() []string {
		var b []string
		for i := range 10 {
			b = append(b, buttonComponent("quick_reply", `"`+string(rune('0'+i))+`"`, `[{"type":"payload","payload":"P"}]`))
		}
		return b
	}(), ",") + `]`)},
	{"template carousel passes through", templateMsg(`[` + bodyComponent(textParam("Jane")) + `,{"type":"carousel","cards":[{"card_index":0,"components":[]}]}]`)},
	{"template pretty-printed, index a number", "{ \"to\" : \"15550001111\" ,\n \"type\" : \"template\" ,\n \"template\" : { \"name\" : \"a\" , \"language\" : { \"code\" : \"en\" } ,\n\t\"components\" : [ { \"type\" : \"button\" , \"sub_type\" : \"quick_reply\" , \"index\" : 1 ,\n\t\"parameters\" : [ { \"type\" : \"payload\" , \"payload\" : \"P\" } ] } ] } }"},
	{"template language without region", sendBody("template", `{"name":"a_1","language":{"code":"pt-BR"}}`)},

	// §3.7 reaction.
	{"reaction", reactionMsg("👍")},
	{"reaction removed", reactionMsg("")},
	{"reaction with skin tone", reactionMsg("👍🏽")},
	{"reaction with variation selector", reactionMsg("❤️")},
	{"reaction keycap", reactionMsg("1️⃣")},
	{"reaction flag", reactionMsg("🇩🇪")},
	{"reaction ZWJ sequence", reactionMsg("👩‍❤️‍💋‍👨")},
	{"reaction subdivision flag", reactionMsg("🏴󠁧󠁢󠁳󠁣󠁴󠁿")},
	{"reaction copyright sign", reactionMsg("©️")},
}

func decodeBody(t testing.TB, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("test body is not a JSON object: %v\n%s", err, s)
	}
	return m
}

func TestValidateAcceptsValidExamples(t *testing.T) {
	for _, tc := range validExamples {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate(decodeBody(t, tc.body)); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// violations break one rule each.
var violations = []struct {
	name, body  string
	field, rule string
}{
	// Envelope.
	{"messaging_product wrong", `{"messaging_product":"sms","to":"15550001111","text":{"body":"hi"}}`, "messaging_product", `must be "whatsapp", got "sms"`},
	{"recipient_type unknown", `{"recipient_type":"broadcast","to":"15550001111","text":{"body":"hi"}}`, "recipient_type", "must be one of individual, group"},
	{"recipient_type not a string", `{"recipient_type":1,"to":"15550001111","text":{"body":"hi"}}`, "recipient_type", "must be a string, got a number"},
	{"no recipient", `{"text":{"body":"hi"}}`, "to", "required (or recipient"},
	{"empty to", `{"to":"","text":{"body":"hi"}}`, "to", "required"},
	{"to and recipient", `{"to":"15550001111","recipient":"US.1","text":{"body":"hi"}}`, "to", "not both"},
	{"to a number", `{"to":15550001111,"text":{"body":"hi"}}`, "to", "must be a string, got a number"},
	{"to with letters", `{"to":"call me","text":{"body":"hi"}}`, "to", "must be a phone number"},
	{"to a BSUID", `{"to":"US.13491208655302741918","text":{"body":"hi"}}`, "to", "goes in recipient"},
	{"to with full-width digits", `{"to":"１５５５０００１１１１","text":{"body":"hi"}}`, "to", "must be a phone number"},
	{"to too short", `{"to":"+1 555 001","text":{"body":"hi"}}`, "to", "must have 8 to 15 digits (country code and number), got 7"},
	{"to too long", `{"to":"1234567890123456","text":{"body":"hi"}}`, "to", "got 16"},
	{"to only punctuation", `{"to":"+() -","text":{"body":"hi"}}`, "to", "got 0"},
	{"recipient with a space", `{"recipient":"US. 1","text":{"body":"hi"}}`, "recipient", "without spaces"},
	{"recipient not a string", `{"recipient":["US.1"],"text":{"body":"hi"}}`, "recipient", "must be a string, got an array"},
	{"recipient in a group send", `{"recipient_type":"group","recipient":"US.1","text":{"body":"hi"}}`, "recipient", `not allowed with recipient_type "group"`},
	{"type not a string", `{"to":"15550001111","type":["text"],"text":{"body":"hi"}}`, "type", "must be a string, got an array"},
	{"type an envelope field", `{"to":"15550001111","type":"to"}`, "type", `"to" is an envelope field`},
	{"type context", `{"to":"15550001111","type":"context","context":{"message_id":"wamid.X"}}`, "type", "envelope field"},
	{"type capitalised", `{"to":"15550001111","type":"Text","Text":{"body":"hi"}}`, "type", `must be lowercase: "text"`},
	{"type not an API name", `{"to":"15550001111","type":"new-type","new-type":{}}`, "type", "not an API type name"},
	{"unknown type without object", `{"to":"15550001111","type":"x_new"}`, "x_new", `object required for type "x_new"`},
	{"unknown type with a string", `{"to":"15550001111","type":"x_new","x_new":"hi"}`, "x_new", "must be an object, got a string"},
	{"type object missing", `{"to":"15550001111","type":"image","text":{"body":"hi"}}`, "image", `object required for type "image"`},
	{"type object null", `{"to":"15550001111","type":"image","image":null}`, "image", `object required for type "image"`},
	{"default type without text", `{"to":"15550001111","image":{"id":"1"}}`, "text", `object required for type "text"`},
	{"two content objects", `{"to":"15550001111","type":"text","text":{"body":"hi"},"image":{"id":"1"}}`, "image", "exactly one content object"},
	{"stray content beside unknown type", `{"to":"15550001111","type":"x_new","x_new":{},"reaction":{}}`, "reaction", "exactly one content object"},
	{"context not an object", `{"to":"15550001111","context":"wamid.X","text":{"body":"hi"}}`, "context", "must be an object, got a string"},
	{"context without message_id", `{"to":"15550001111","context":{},"text":{"body":"hi"}}`, "context.message_id", "required"},
	{"context message_id empty", `{"to":"15550001111","context":{"message_id":""},"text":{"body":"hi"}}`, "context.message_id", "must not be empty"},
	{"callback data too long", `{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":"` + strings.Repeat("é", 513) + `"}`, "biz_opaque_callback_data", "at most 512 characters, got 513"},
	{"callback data not a string", `{"to":"15550001111","text":{"body":"hi"},"biz_opaque_callback_data":42}`, "biz_opaque_callback_data", "must be a string"},
	{"identity key hash not a string", `{"to":"15550001111","text":{"body":"hi"},"recipient_identity_key_hash":{}}`, "recipient_identity_key_hash", "must be a string, got an object"},

	// Order: the envelope comes before the content, stray objects before
	// the content's fields.
	{"envelope before content", `{"to":"1","text":{"body":""}}`, "to", "digits"},
	{"stray object before content fields", `{"to":"15550001111","text":{"body":""},"image":{}}`, "image", "exactly one content object"},

	// Text.
	{"text body missing", sendBody("text", `{}`), "text.body", "required"},
	{"text body empty", sendBody("text", `{"body":""}`), "text.body", "must not be empty"},
	{"text body too long", sendBody("text", `{"body":"`+strings.Repeat("é", 4097)+`"}`), "text.body", "at most 4096 characters, got 4097"},
	{"text body not a string", sendBody("text", `{"body":42}`), "text.body", "must be a string, got a number"},
	{"text preview_url not a boolean", sendBody("text", `{"body":"hi","preview_url":"yes"}`), "text.preview_url", "must be a boolean, got a string"},
	{"text an array", sendBody("text", `["hi"]`), "text", "must be an object, got an array"},

	// Media.
	{"media without id or link", sendBody("image", `{"caption":"x"}`), "image.id", "required (or link"},
	{"media with id and link", sendBody("video", `{"id":"1","link":"https://a.example/v.mp4"}`), "video.id", "not both"},
	{"media id empty", sendBody("audio", `{"id":""}`), "audio.id", "must not be empty"},
	{"media id a number", sendBody("audio", `{"id":1234}`), "audio.id", "must be a string, got a number"},
	{"media link by http", sendBody("image", `{"link":"http://cdn.example.com/a.jpg"}`), "image.link", "must be an absolute https URL, got scheme"},
	{"media link relative", sendBody("image", `{"link":"/a.jpg"}`), "image.link", "must be an absolute https URL"},
	{"media link without host", sendBody("document", `{"link":"https:///f.pdf"}`), "document.link", "absolute https URL"},
	{"media link not a URL", sendBody("document", `{"link":"https://exa mple.com/f.pdf"}`), "document.link", "absolute https URL"},
	{"caption on audio", sendBody("audio", `{"id":"1","caption":"x"}`), "audio.caption", "not allowed on audio"},
	{"caption on sticker", sendBody("sticker", `{"id":"1","caption":"x"}`), "sticker.caption", "not allowed on sticker"},
	{"caption too long", sendBody("image", `{"id":"1","caption":"`+strings.Repeat("x", 1025)+`"}`), "image.caption", "at most 1024 characters, got 1025"},
	{"caption not a string", sendBody("video", `{"id":"1","caption":true}`), "video.caption", "must be a string, got a boolean"},
	{"filename on image", sendBody("image", `{"id":"1","filename":"a.jpg"}`), "image.filename", "only a document takes a filename"},
	{"filename not a string", sendBody("document", `{"id":"1","filename":["a.pdf"]}`), "document.filename", "must be a string"},

	// Location.
	{"latitude missing", sendBody("location", `{"longitude":13.4}`), "location.latitude", "required"},
	{"latitude too high", sendBody("location", `{"latitude":90.0001,"longitude":13.4}`), "location.latitude", "from -90 to 90 degrees, got 90.0001"},
	{"longitude too low", sendBody("location", `{"latitude":52.5,"longitude":-180.5}`), "location.longitude", "from -180 to 180"},
	{"latitude out of float range", sendBody("location", `{"latitude":1e400,"longitude":1}`), "location.latitude", "got 1e400"},
	{"latitude a string", sendBody("location", `{"latitude":"52.5","longitude":13.4}`), "location.latitude", "must be a number, got a string"},
	{"location name not a string", sendBody("location", `{"latitude":52.5,"longitude":13.4,"name":7}`), "location.name", "must be a string"},
	{"location address not a string", sendBody("location", `{"latitude":52.5,"longitude":13.4,"address":{}}`), "location.address", "must be a string"},

	// Contacts.
	{"contacts an object", sendBody("contacts", `{"name":{"formatted_name":"Jane","first_name":"Jane"}}`), "contacts", "must be an array, got an object"},
	{"contacts empty", sendBody("contacts", `[]`), "contacts", "at least one contact"},
	{"contact not an object", sendBody("contacts", `["Jane"]`), "contacts[0]", "must be an object, got a string"},
	{"contact without name", sendBody("contacts", `[{"phones":[]}]`), "contacts[0].name", "required"},
	{"contact without formatted_name", sendBody("contacts", `[{"name":{"first_name":"Jane"}}]`), "contacts[0].name.formatted_name", "required"},
	{"contact with only formatted_name", sendBody("contacts", `[{"name":{"formatted_name":"Jane"}}]`), "contacts[0].name", "needs one of first_name"},
	{"contact with empty other name", sendBody("contacts", `[{"name":{"formatted_name":"Jane","last_name":""}}]`), "contacts[0].name", "needs one of"},
	{"contact name field not a string", sendBody("contacts", `[{"name":{"formatted_name":"Jane","first_name":1}}]`), "contacts[0].name.first_name", "must be a string"},
	{"second contact broken", sendBody("contacts", `[{"name":{"formatted_name":"A","first_name":"A"}},{"name":{"formatted_name":"B"}}]`), "contacts[1].name", "needs one of"},
	{"contact org not an object", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"org":"Acme"}]`), "contacts[0].org", "must be an object"},
	{"contact phones not an array", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"phones":{"phone":"1"}}]`), "contacts[0].phones", "must be an array, got an object"},
	{"contact phone not an object", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"phones":["+1 555"]}]`), "contacts[0].phones[0]", "must be an object, got a string"},
	{"contact email not a string", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"emails":[{"email":1}]}]`), "contacts[0].emails[0].email", "must be a string"},
	{"contact url type not a string", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"urls":[{"url":"https://a","type":2}]}]`), "contacts[0].urls[0].type", "must be a string"},
	{"contact address not an object", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"addresses":[null]}]`), "contacts[0].addresses[0]", "must be an object, got null"},
	{"birthday in another format", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"birthday":"31/01/1990"}]`), "contacts[0].birthday", "YYYY-MM-DD"},
	{"birthday not a date", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"birthday":"1990-02-30"}]`), "contacts[0].birthday", "YYYY-MM-DD"},
	{"birthday short month", sendBody("contacts", `[{"name":{"formatted_name":"J","first_name":"J"},"birthday":"1990-1-31"}]`), "contacts[0].birthday", "YYYY-MM-DD"},

	// Interactive, common parts.
	{"interactive type missing", sendBody("interactive", `{"body":{"text":"x"},"action":{}}`), "interactive.type", "required: one of button, list, cta_url"},
	{"interactive type empty", sendBody("interactive", `{"type":"","body":{"text":"x"},"action":{}}`), "interactive.type", "required"},
	{"interactive type a number", sendBody("interactive", `{"type":1}`), "interactive.type", "must be a string, got a number"},
	{"interactive type capitalised", sendBody("interactive", `{"type":"Button","body":{"text":"x"},"action":{}}`), "interactive.type", `must be lowercase: "button"`},
	{"interactive body missing", sendBody("interactive", `{"type":"button","action":{"buttons":[`+replyButton("a", "A")+`]}}`), "interactive.body", "required"},
	{"interactive body text missing", sendBody("interactive", `{"type":"list","body":{},"action":{}}`), "interactive.body.text", "required"},
	{"interactive body text too long", sendBody("interactive", `{"type":"button","body":{"text":"`+strings.Repeat("b", 1025)+`"},"action":{}}`), "interactive.body.text", "at most 1024 characters, got 1025"},
	{"interactive header text too long", sendBody("interactive", `{"type":"button","header":{"type":"text","text":"`+strings.Repeat("h", 61)+`"},"body":{"text":"x"},"action":{}}`), "interactive.header.text", "at most 60 characters, got 61"},
	{"interactive header text missing", sendBody("interactive", `{"type":"button","header":{"type":"text"},"body":{"text":"x"},"action":{}}`), "interactive.header.text", "required"},
	{"interactive header type missing", sendBody("interactive", `{"type":"button","header":{"text":"x"},"body":{"text":"x"},"action":{}}`), "interactive.header.type", "required"},
	{"interactive header audio", sendBody("interactive", `{"type":"button","header":{"type":"audio","audio":{"id":"1"}},"body":{"text":"x"},"action":{}}`), "interactive.header.type", `must be text, image, video, document on interactive type "button", got "audio"`},
	{"list header image", sendBody("interactive", `{"type":"list","header":{"type":"image","image":{"id":"1"}},"body":{"text":"x"},"action":{}}`), "interactive.header.type", `must be text on interactive type "list"`},
	{"flow header video", sendBody("interactive", `{"type":"flow","header":{"type":"video","video":{"id":"1"}},"body":{"text":"x"},"action":{}}`), "interactive.header.type", "must be text"},
	{"header media with caption", sendBody("interactive", `{"type":"button","header":{"type":"image","image":{"id":"1","caption":"c"}},"body":{"text":"x"},"action":{}}`), "interactive.header.image.caption", "not allowed on header media"},
	{"header media object missing", sendBody("interactive", `{"type":"button","header":{"type":"image"},"body":{"text":"x"},"action":{}}`), "interactive.header.image", "required"},
	{"header media without id", sendBody("interactive", `{"type":"cta_url","header":{"type":"video","video":{}},"body":{"text":"x"},"action":{}}`), "interactive.header.video.id", "required (or link"},
	{"header on location request", sendBody("interactive", `{"type":"location_request_message","header":{"type":"text","text":"x"},"body":{"text":"x"},"action":{"name":"send_location"}}`), "interactive.header", `not allowed on interactive type "location_request_message"`},
	{"header on product", sendBody("interactive", `{"type":"product","header":{"type":"text","text":"x"},"action":{"catalog_id":"C","product_retailer_id":"S"}}`), "interactive.header", "not allowed"},
	{"header on catalog_message", sendBody("interactive", `{"type":"catalog_message","header":{"type":"text","text":"x"},"body":{"text":"x"},"action":{"name":"catalog_message"}}`), "interactive.header", "not allowed"},
	{"footer on location request", sendBody("interactive", `{"type":"location_request_message","body":{"text":"x"},"footer":{"text":"f"},"action":{"name":"send_location"}}`), "interactive.footer", "not allowed"},
	{"footer too long", sendBody("interactive", `{"type":"button","body":{"text":"x"},"footer":{"text":"`+strings.Repeat("f", 61)+`"},"action":{}}`), "interactive.footer.text", "at most 60 characters, got 61"},
	{"footer empty", sendBody("interactive", `{"type":"button","body":{"text":"x"},"footer":{"text":""},"action":{}}`), "interactive.footer.text", "must not be empty"},
	{"footer a string", sendBody("interactive", `{"type":"button","body":{"text":"x"},"footer":"f","action":{}}`), "interactive.footer", "must be an object, got a string"},
	{"action missing", sendBody("interactive", `{"type":"button","body":{"text":"x"}}`), "interactive.action", "required"},
	{"action an array", sendBody("interactive", `{"type":"button","body":{"text":"x"},"action":[]}`), "interactive.action", "must be an object, got an array"},
	{"unknown interactive type body too long", sendBody("interactive", `{"type":"x_new","body":{"text":"`+strings.Repeat("b", 1025)+`"}}`), "interactive.body.text", "at most 1024"},

	// Reply buttons.
	{"buttons missing", sendBody("interactive", `{"type":"button","body":{"text":"x"},"action":{}}`), "interactive.action.buttons", "required"},
	{"no buttons", replyButtons(`[]`), "interactive.action.buttons", "1 to 3 reply buttons, got 0"},
	{"four buttons", replyButtons(`[` + replyButton("a", "A") + `,` + replyButton("b", "B") + `,` + replyButton("c", "C") + `,` + replyButton("d", "D") + `]`), "interactive.action.buttons", "1 to 3 reply buttons, got 4"},
	{"button type not reply", replyButtons(`[{"type":"url","reply":{"id":"a","title":"A"}}]`), "interactive.action.buttons[0].type", `must be "reply", got "url"`},
	{"button type missing", replyButtons(`[{"reply":{"id":"a","title":"A"}}]`), "interactive.action.buttons[0].type", `required: "reply"`},
	{"button reply missing", replyButtons(`[{"type":"reply"}]`), "interactive.action.buttons[0].reply", "required"},
	{"button title too long", replyButtons(`[` + replyButton("a", "A") + `,` + replyButton("b", "This title is way too long") + `]`), "interactive.action.buttons[1].reply.title", "at most 20 characters, got 26"},
	{"button title too long in emoji", replyButtons(`[` + replyButton("a", strings.Repeat("👍", 21)) + `]`), "interactive.action.buttons[0].reply.title", "at most 20 characters, got 21"},
	{"button title empty", replyButtons(`[` + replyButton("a", "") + `]`), "interactive.action.buttons[0].reply.title", "must not be empty"},
	{"button titles repeated", replyButtons(`[` + replyButton("a", "Yes") + `,` + replyButton("b", "No") + `,` + replyButton("c", "Yes") + `]`), "interactive.action.buttons[2].reply.title", "must be unique; buttons[0]"},
	{"button ids repeated", replyButtons(`[` + replyButton("a", "Yes") + `,` + replyButton("a", "No") + `]`), "interactive.action.buttons[1].reply.id", "must be unique; buttons[0]"},
	{"button id empty", replyButtons(`[` + replyButton("", "Yes") + `]`), "interactive.action.buttons[0].reply.id", "must not be empty"},
	{"button id too long", replyButtons(`[` + replyButton(strings.Repeat("i", 257), "Yes") + `]`), "interactive.action.buttons[0].reply.id", "at most 256 characters, got 257"},
	{"button id with leading space", replyButtons(`[` + replyButton(" a", "Yes") + `]`), "interactive.action.buttons[0].reply.id", "must not begin or end with a space"},
	{"button id with trailing space", replyButtons(`[` + replyButton("a ", "Yes") + `]`), "interactive.action.buttons[0].reply.id", "space"},
	{"button not an object", replyButtons(`["Yes"]`), "interactive.action.buttons[0]", "must be an object, got a string"},

	// Lists.
	{"list button missing", sendBody("interactive", `{"type":"list","body":{"text":"x"},"action":{"sections":[]}}`), "interactive.action.button", "required"},
	{"list button too long", sendBody("interactive", `{"type":"list","body":{"text":"x"},"action":{"button":"`+strings.Repeat("b", 21)+`","sections":[]}}`), "interactive.action.button", "at most 20 characters, got 21"},
	{"list without sections", listMsg(`[]`), "interactive.action.sections", "1 to 10 sections, got 0"},
	{"list of 11 sections", listMsg(`[` + strings.Repeat(`{"title":"s","rows":[{"id":"a","title":"A"}]},`, 10) + `{"title":"s","rows":[]}]`), "interactive.action.sections", "1 to 10 sections, got 11"},
	{"list sections not an array", listMsg(`{}`), "interactive.action.sections", "must be an array"},
	{"list section title missing with two sections", listMsg(`[{"title":"A","rows":` + listRows("a", 1) + `},{"rows":` + listRows("b", 1) + `}]`), "interactive.action.sections[1].title", "required when there is more than one section"},
	{"list section title empty with two sections", listMsg(`[{"title":"","rows":` + listRows("a", 1) + `},{"title":"B","rows":` + listRows("b", 1) + `}]`), "interactive.action.sections[0].title", "required when"},
	{"list section title too long", listMsg(`[{"title":"` + strings.Repeat("s", 25) + `","rows":` + listRows("a", 1) + `}]`), "interactive.action.sections[0].title", "at most 24 characters, got 25"},
	{"list section without rows", listMsg(`[{"title":"A","rows":[]}]`), "interactive.action.sections[0].rows", "at least one row"},
	{"list section rows missing", listMsg(`[{"title":"A"}]`), "interactive.action.sections[0].rows", "required"},
	{"list of 11 rows in one section", listMsg(`[{"rows":` + listRows("a", 11) + `}]`), "interactive.action.sections[0].rows[10]", "at most 10 rows in total"},
	{"list of 11 rows over two sections", listMsg(`[{"title":"A","rows":` + listRows("a", 6) + `},{"title":"B","rows":` + listRows("b", 5) + `}]`), "interactive.action.sections[1].rows[4]", "at most 10 rows in total across its sections"},
	{"list row id missing", listMsg(`[{"rows":[{"title":"A"}]}]`), "interactive.action.sections[0].rows[0].id", "required"},
	{"list row id too long", listMsg(`[{"rows":[{"id":"` + strings.Repeat("i", 201) + `","title":"A"}]}]`), "interactive.action.sections[0].rows[0].id", "at most 200 characters, got 201"},
	{"list row ids repeated across sections", listMsg(`[{"title":"A","rows":[{"id":"x","title":"X"}]},{"title":"B","rows":[{"id":"x","title":"Y"}]}]`), "interactive.action.sections[1].rows[0].id", "must be unique; sections[0].rows[0] has the same id"},
	{"list row title missing", listMsg(`[{"rows":[{"id":"a"}]}]`), "interactive.action.sections[0].rows[0].title", "required"},
	{"list row title too long", listMsg(`[{"rows":[{"id":"a","title":"` + strings.Repeat("t", 25) + `"}]}]`), "interactive.action.sections[0].rows[0].title", "at most 24 characters, got 25"},
	{"list row description too long", listMsg(`[{"rows":[{"id":"a","title":"A","description":"` + strings.Repeat("d", 73) + `"}]}]`), "interactive.action.sections[0].rows[0].description", "at most 72 characters, got 73"},
	{"list row not an object", listMsg(`[{"rows":[1]}]`), "interactive.action.sections[0].rows[0]", "must be an object, got a number"},

	// cta_url.
	{"cta_url name wrong", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"name":"url","parameters":{"display_text":"Go","url":"https://a.example"}}}`), "interactive.action.name", `must be "cta_url", got "url"`},
	{"cta_url name missing", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"parameters":{}}}`), "interactive.action.name", `required: "cta_url"`},
	{"cta_url parameters missing", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"name":"cta_url"}}`), "interactive.action.parameters", "required"},
	{"cta_url display_text too long", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"name":"cta_url","parameters":{"display_text":"`+strings.Repeat("d", 21)+`","url":"https://a.example"}}}`), "interactive.action.parameters.display_text", "at most 20 characters, got 21"},
	{"cta_url url missing", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"name":"cta_url","parameters":{"display_text":"Go"}}}`), "interactive.action.parameters.url", "required"},
	{"cta_url url by ftp", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"name":"cta_url","parameters":{"display_text":"Go","url":"ftp://a.example/f"}}}`), "interactive.action.parameters.url", "must be an absolute http or https URL, got scheme"},
	{"cta_url url relative", sendBody("interactive", `{"type":"cta_url","body":{"text":"x"},"action":{"name":"cta_url","parameters":{"display_text":"Go","url":"example.com"}}}`), "interactive.action.parameters.url", "absolute http or https URL"},

	// Flows.
	{"flow name wrong", sendBody("interactive", `{"type":"flow","body":{"text":"x"},"action":{"name":"flows","parameters":{}}}`), "interactive.action.name", `must be "flow"`},
	{"flow parameters missing", sendBody("interactive", `{"type":"flow","body":{"text":"x"},"action":{"name":"flow"}}`), "interactive.action.parameters", "required"},
	{"flow version missing", flowMsg(`{"flow_id":"1","flow_cta":"Go"}`), "interactive.action.parameters.flow_message_version", "required"},
	{"flow version a number", flowMsg(`{"flow_message_version":3,"flow_id":"1","flow_cta":"Go"}`), "interactive.action.parameters.flow_message_version", "must be a string, got a number"},
	{"flow id and name", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_name":"f","flow_cta":"Go"}`), "interactive.action.parameters.flow_id", "not both"},
	{"flow id or name missing", flowMsg(`{"flow_message_version":"3","flow_cta":"Go"}`), "interactive.action.parameters.flow_id", "required (or flow_name)"},
	{"flow name empty", flowMsg(`{"flow_message_version":"3","flow_name":"","flow_cta":"Go"}`), "interactive.action.parameters.flow_name", "must not be empty"},
	{"flow token not a string", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_token":1,"flow_cta":"Go"}`), "interactive.action.parameters.flow_token", "must be a string"},
	{"flow cta missing", flowMsg(`{"flow_message_version":"3","flow_id":"1"}`), "interactive.action.parameters.flow_cta", "required"},
	{"flow cta too long", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"` + strings.Repeat("c", 21) + `"}`), "interactive.action.parameters.flow_cta", "at most 20 characters, got 21"},
	{"flow cta with emoji", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Book 📅"}`), "interactive.action.parameters.flow_cta", "must not contain emoji"},
	{"flow mode unknown", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Go","mode":"live"}`), "interactive.action.parameters.mode", "must be one of draft, published"},
	{"flow action unknown", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Go","flow_action":"open"}`), "interactive.action.parameters.flow_action", "must be one of navigate, data_exchange"},
	{"flow navigate without payload", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Go","flow_action":"navigate"}`), "interactive.action.parameters.flow_action_payload", "required when flow_action is navigate"},
	{"flow payload without screen", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Go","flow_action":"navigate","flow_action_payload":{}}`), "interactive.action.parameters.flow_action_payload.screen", "required"},
	{"flow payload with empty data", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Go","flow_action_payload":{"screen":"S","data":{}}}`), "interactive.action.parameters.flow_action_payload.data", "must not be an empty object"},
	{"flow payload data an array", flowMsg(`{"flow_message_version":"3","flow_id":"1","flow_cta":"Go","flow_action_payload":{"screen":"S","data":[1]}}`), "interactive.action.parameters.flow_action_payload.data", "must be an object, got an array"},

	// Location requests, products, catalogs.
	{"location request name wrong", sendBody("interactive", `{"type":"location_request_message","body":{"text":"x"},"action":{"name":"location"}}`), "interactive.action.name", `must be "send_location", got "location"`},
	{"location request body missing", sendBody("interactive", `{"type":"location_request_message","action":{"name":"send_location"}}`), "interactive.body", "required"},
	{"product catalog missing", sendBody("interactive", `{"type":"product","action":{"product_retailer_id":"S"}}`), "interactive.action.catalog_id", "required"},
	{"product retailer id missing", sendBody("interactive", `{"type":"product","action":{"catalog_id":"C"}}`), "interactive.action.product_retailer_id", "required"},
	{"product body without text", sendBody("interactive", `{"type":"product","body":{},"action":{"catalog_id":"C","product_retailer_id":"S"}}`), "interactive.body.text", "required"},
	{"product_list header missing", sendBody("interactive", `{"type":"product_list","body":{"text":"x"},"action":{"catalog_id":"C","sections":[]}}`), "interactive.header", "required"},
	{"product_list header image", sendBody("interactive", `{"type":"product_list","header":{"type":"image","image":{"id":"1"}},"body":{"text":"x"},"action":{}}`), "interactive.header.type", `must be text on interactive type "product_list"`},
	{"product_list body missing", sendBody("interactive", `{"type":"product_list","header":{"type":"text","text":"h"},"action":{}}`), "interactive.body", "required"},
	{"product_list catalog missing", sendBody("interactive", `{"type":"product_list","header":{"type":"text","text":"h"},"body":{"text":"x"},"action":{"sections":[]}}`), "interactive.action.catalog_id", "required"},
	{"product_list without sections", productListMsg(`[]`), "interactive.action.sections", "1 to 10 sections, got 0"},
	{"product_list of 11 sections", productListMsg(`[` + strings.Repeat(`{"title":"s","product_items":[{"product_retailer_id":"a"}]},`, 10) + `{"title":"s","product_items":[]}]`), "interactive.action.sections", "1 to 10 sections, got 11"},
	{"product_list section title missing", productListMsg(`[{"title":"A","product_items":` + productItems("a", 1) + `},{"product_items":` + productItems("b", 1) + `}]`), "interactive.action.sections[1].title", "required when there is more than one section"},
	{"product_list section empty", productListMsg(`[{"title":"A","product_items":[]}]`), "interactive.action.sections[0].product_items", "at least one product"},
	{"product_list of 31 products", productListMsg(`[{"title":"A","product_items":` + productItems("a", 20) + `},{"title":"B","product_items":` + productItems("b", 11) + `}]`), "interactive.action.sections[1].product_items[10]", "at most 30 products in total"},
	{"product_list item without retailer id", productListMsg(`[{"title":"A","product_items":[{}]}]`), "interactive.action.sections[0].product_items[0].product_retailer_id", "required"},
	{"catalog_message name wrong", sendBody("interactive", `{"type":"catalog_message","body":{"text":"x"},"action":{"name":"catalog"}}`), "interactive.action.name", `must be "catalog_message"`},
	{"catalog_message body missing", sendBody("interactive", `{"type":"catalog_message","action":{"name":"catalog_message"}}`), "interactive.body", "required"},
	{"catalog_message parameters a string", sendBody("interactive", `{"type":"catalog_message","body":{"text":"x"},"action":{"name":"catalog_message","parameters":"SKU-1"}}`), "interactive.action.parameters", "must be an object, got a string"},

	// Templates.
	{"template name missing", sendBody("template", `{"language":{"code":"en_US"}}`), "template.name", "required"},
	{"template name with capitals", sendBody("template", `{"name":"Order_Update","language":{"code":"en_US"}}`), "template.name", `only lowercase letters a-z, digits and _, got "Order_Update"`},
	{"template name with a space", sendBody("template", `{"name":"order update","language":{"code":"en_US"}}`), "template.name", "only lowercase letters"},
	{"template name too long", sendBody("template", `{"name":"`+strings.Repeat("n", 513)+`","language":{"code":"en_US"}}`), "template.name", "at most 512 characters, got 513"},
	{"template language missing", sendBody("template", `{"name":"a"}`), "template.language", "required"},
	{"template language a string", sendBody("template", `{"name":"a","language":"en_US"}`), "template.language", "must be an object, got a string"},
	{"template language code missing", sendBody("template", `{"name":"a","language":{}}`), "template.language.code", "required"},
	{"template language code with a space", sendBody("template", `{"name":"a","language":{"code":"en US"}}`), "template.language.code", "must be a language code"},
	{"template language policy unknown", sendBody("template", `{"name":"a","language":{"code":"en","policy":"fallback"}}`), "template.language.policy", `must be "deterministic"`},
	{"template components an object", templateMsg(`{}`), "template.components", "must be an array, got an object"},
	{"template component not an object", templateMsg(`["body"]`), "template.components[0]", "must be an object"},
	{"template component type missing", templateMsg(`[{"parameters":[]}]`), "template.components[0].type", "required"},
	{"template unknown component type upper-case", templateMsg(`[{"type":"CAROUSEL","cards":[]}]`), "template.components[0].type", `must be lowercase: "carousel"`},
	{"template component type upper-case", templateMsg(`[{"type":"BODY","parameters":[]}]`), "template.components[0].type", `must be lowercase: "body", got "BODY"`},
	{"template two bodies", templateMsg(`[` + bodyComponent(textParam("a")) + `,` + bodyComponent(textParam("b")) + `]`), "template.components[1].type", "at most one body component; components[0]"},
	{"template two headers", templateMsg(`[{"type":"header"},{"type":"header"}]`), "template.components[1].type", "at most one header component"},
	{"template header of two parameters", templateMsg(`[{"type":"header","parameters":[` + textParam("a") + `,` + textParam("b") + `]}]`), "template.components[0].parameters", "at most 1 parameter, got 2"},
	{"template header parameter audio", templateMsg(`[{"type":"header","parameters":[{"type":"audio","audio":{"id":"1"}}]}]`), "template.components[0].parameters[0].type", "must be one of text, currency, date_time, image, video, document, location"},
	{"template header text too long", templateMsg(`[{"type":"header","parameters":[` + textParam(strings.Repeat("h", 61)) + `]}]`), "template.components[0].parameters[0].text", "at most 60 characters, got 61"},
	{"template header image by http", templateMsg(`[{"type":"header","parameters":[{"type":"image","image":{"link":"http://a.example/h.jpg"}}]}]`), "template.components[0].parameters[0].image.link", "https"},
	{"template header image by id and link", templateMsg(`[{"type":"header","parameters":[{"type":"image","image":{"id":"1","link":"https://a.example/h.jpg"}}]}]`), "template.components[0].parameters[0].image.id", "not both"},
	{"template header image object missing", templateMsg(`[{"type":"header","parameters":[{"type":"image"}]}]`), "template.components[0].parameters[0].image", "required"},
	{"template header video filename", templateMsg(`[{"type":"header","parameters":[{"type":"video","video":{"id":"1","filename":"v.mp4"}}]}]`), "template.components[0].parameters[0].video.filename", "only a document"},
	{"template header location out of range", templateMsg(`[{"type":"header","parameters":[{"type":"location","location":{"latitude":200,"longitude":0}}]}]`), "template.components[0].parameters[0].location.latitude", "from -90 to 90"},
	{"template parameters an object", templateMsg(`[{"type":"body","parameters":{}}]`), "template.components[0].parameters", "must be an array"},
	{"template parameter type missing", templateMsg(`[` + bodyComponent(`{"text":"a"}`) + `]`), "template.components[0].parameters[0].type", "required: one of text, currency, date_time"},
	{"template body parameter image", templateMsg(`[` + bodyComponent(`{"type":"image","image":{"id":"1"}}`) + `]`), "template.components[0].parameters[0].type", `must be one of text, currency, date_time, got "image"`},
	{"template body text empty", templateMsg(`[` + bodyComponent(textParam("")) + `]`), "template.components[0].parameters[0].text", "must not be empty"},
	{"template body text missing", templateMsg(`[` + bodyComponent(`{"type":"text"}`) + `]`), "template.components[0].parameters[0].text", "required"},
	{"template body text too long beside a header", templateMsg(`[{"type":"header","parameters":[` + textParam("h") + `]},` + bodyComponent(textParam(strings.Repeat("x", 1025))) + `]`), "template.components[1].parameters[0].text", "at most 1024 characters, got 1025"},
	{"template body-only text too long", templateMsg(`[` + bodyComponent(textParam(strings.Repeat("x", 32769))) + `]`), "template.components[0].parameters[0].text", "at most 32768 characters, got 32769"},
	{"currency object missing", templateMsg(`[` + bodyComponent(`{"type":"currency"}`) + `]`), "template.components[0].parameters[0].currency", "required"},
	{"currency fallback missing", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"code":"USD","amount_1000":1}}`) + `]`), "template.components[0].parameters[0].currency.fallback_value", "required"},
	{"currency code of 2 letters", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$1","code":"US","amount_1000":1000}}`) + `]`), "template.components[0].parameters[0].currency.code", "3 letters"},
	{"currency code with a digit", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$1","code":"U5D","amount_1000":1000}}`) + `]`), "template.components[0].parameters[0].currency.code", "ISO 4217"},
	{"currency amount missing", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$1","code":"USD"}}`) + `]`), "template.components[0].parameters[0].currency.amount_1000", "required"},
	{"currency amount zero", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$0","code":"USD","amount_1000":0}}`) + `]`), "template.components[0].parameters[0].currency.amount_1000", "greater than 0"},
	{"currency amount negative", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$0","code":"USD","amount_1000":-5}}`) + `]`), "template.components[0].parameters[0].currency.amount_1000", "(the amount × 1000), got -5"},
	{"currency amount fractional", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$1","code":"USD","amount_1000":19.99}}`) + `]`), "template.components[0].parameters[0].currency.amount_1000", "whole number"},
	{"currency amount a string", templateMsg(`[` + bodyComponent(`{"type":"currency","currency":{"fallback_value":"$1","code":"USD","amount_1000":"19990"}}`) + `]`), "template.components[0].parameters[0].currency.amount_1000", "must be a number, got a string"},
	{"date_time fallback missing", templateMsg(`[` + bodyComponent(`{"type":"date_time","date_time":{}}`) + `]`), "template.components[0].parameters[0].date_time.fallback_value", "required"},
	{"date_time a string", templateMsg(`[` + bodyComponent(`{"type":"date_time","date_time":"today"}`) + `]`), "template.components[0].parameters[0].date_time", "must be an object, got a string"},
	{"parameter_name with a space", templateMsg(`[` + bodyComponent(namedParam("first name", "Jane")) + `]`), "template.components[0].parameters[0].parameter_name", "only lowercase letters a-z, digits and _"},
	{"parameter_name with capitals", templateMsg(`[` + bodyComponent(namedParam("firstName", "Jane")) + `]`), "template.components[0].parameters[0].parameter_name", "only lowercase"},
	{"parameter_name too long", templateMsg(`[` + bodyComponent(namedParam(strings.Repeat("n", 21), "Jane")) + `]`), "template.components[0].parameters[0].parameter_name", "at most 20 characters, got 21"},
	{"parameter_name empty", templateMsg(`[` + bodyComponent(namedParam("", "Jane")) + `]`), "template.components[0].parameters[0].parameter_name", "must not be empty"},
	{"parameter_name not a string", templateMsg(`[` + bodyComponent(`{"type":"text","text":"a","parameter_name":1}`) + `]`), "template.components[0].parameters[0].parameter_name", "must be a string"},
	{"named after positional", templateMsg(`[` + bodyComponent(textParam("a"), namedParam("b", "b")) + `]`), "template.components[0].parameters[1].parameter_name", "must not be mixed; components[0].parameters[0] has no parameter_name"},
	{"positional after named, across components", templateMsg(`[{"type":"header","parameters":[` + namedParam("h", "h") + `]},` + bodyComponent(textParam("a")) + `]`), "template.components[1].parameters[0].parameter_name", "required: positional and named parameters must not be mixed; components[0].parameters[0] is named"},

	// Template buttons.
	{"button sub_type missing", templateMsg(`[{"type":"button","index":"0","parameters":[]}]`), "template.components[0].sub_type", "required"},
	{"button sub_type upper-case", templateMsg(`[` + buttonComponent("QUICK_REPLY", `"0"`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].sub_type", `must be lowercase: "quick_reply"`},
	{"button index missing", templateMsg(`[{"type":"button","sub_type":"quick_reply","parameters":[{"type":"payload","payload":"P"}]}]`), "template.components[0].index", "required"},
	{"button index 10", templateMsg(`[` + buttonComponent("quick_reply", `"10"`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", "from 0 to 9, got 10"},
	{"button index number 10", templateMsg(`[` + buttonComponent("quick_reply", `10`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", "from 0 to 9, got 10"},
	{"button index negative", templateMsg(`[` + buttonComponent("quick_reply", `-1`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", "got -1"},
	{"button index fractional", templateMsg(`[` + buttonComponent("quick_reply", `1.5`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", "whole number from 0 to 9, got 1.5"},
	{"button index padded", templateMsg(`[` + buttonComponent("quick_reply", `"01"`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", `got 01`},
	{"button index not numeric", templateMsg(`[` + buttonComponent("quick_reply", `"first"`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", "whole number"},
	{"button index a boolean", templateMsg(`[` + buttonComponent("quick_reply", `true`, `[{"type":"payload","payload":"P"}]`) + `]`), "template.components[0].index", "must be a number or a numeric string, got a boolean"},
	{"button index used twice", templateMsg(`[` + buttonComponent("quick_reply", `"0"`, `[{"type":"payload","payload":"P"}]`) + `,` + buttonComponent("url", `0`, `[{"type":"text","text":"x"}]`) + `]`), "template.components[1].index", "button 0 already has a component: components[0]"},
	{"eleven button components", templateMsg(`[` + strings.Join(func() []string {
		var b []string
		for i := range 11 {
			b = append(b, buttonComponent("voice_call", `"`+string(rune('0'+i%10))+`"`, `[]`))
		}
		return b
	}(), ",") + `]`), "template.components[10]", "at most 10 button components"},
	{"quick_reply without parameters", templateMsg(`[` + buttonComponent("quick_reply", `"0"`, `[]`) + `]`), "template.components[0].parameters", "a quick_reply button takes exactly 1 parameter, got 0"},
	{"quick_reply parameter type text", templateMsg(`[` + buttonComponent("quick_reply", `"0"`, `[{"type":"text","text":"P"}]`) + `]`), "template.components[0].parameters[0].type", `must be "payload", got "text"`},
	{"quick_reply payload empty", templateMsg(`[` + buttonComponent("quick_reply", `"0"`, `[{"type":"payload","payload":""}]`) + `]`), "template.components[0].parameters[0].payload", "must not be empty"},
	{"url with two parameters", templateMsg(`[` + buttonComponent("url", `"0"`, `[{"type":"text","text":"a"},{"type":"text","text":"b"}]`) + `]`), "template.components[0].parameters", "a url button takes exactly 1 parameter, got 2"},
	{"url parameter type payload", templateMsg(`[` + buttonComponent("url", `"0"`, `[{"type":"payload","payload":"a"}]`) + `]`), "template.components[0].parameters[0].type", `must be "text"`},
	{"url parameter too long", templateMsg(`[` + buttonComponent("url", `"0"`, `[{"type":"text","text":"`+strings.Repeat("u", 2001)+`"}]`) + `]`), "template.components[0].parameters[0].text", "at most 2000 characters, got 2001"},
	{"url parameter empty", templateMsg(`[` + buttonComponent("url", `"0"`, `[{"type":"text","text":""}]`) + `]`), "template.components[0].parameters[0].text", "must not be empty"},
	{"copy_code parameter type text", templateMsg(`[` + buttonComponent("copy_code", `"0"`, `[{"type":"text","text":"SAVE"}]`) + `]`), "template.components[0].parameters[0].type", `must be "coupon_code"`},
	{"copy_code coupon missing", templateMsg(`[` + buttonComponent("copy_code", `"0"`, `[{"type":"coupon_code"}]`) + `]`), "template.components[0].parameters[0].coupon_code", "required"},
	{"flow button parameter not an object", templateMsg(`[` + buttonComponent("flow", `"0"`, `["token"]`) + `]`), "template.components[0].parameters[0]", "must be an object, got a string"},
	{"unknown button parameter without type", templateMsg(`[` + buttonComponent("x_future", `"0"`, `[{}]`) + `]`), "template.components[0].parameters[0].type", "required"},

	// Reactions.
	{"reaction message_id missing", sendBody("reaction", `{"emoji":"👍"}`), "reaction.message_id", "required"},
	{"reaction message_id empty", sendBody("reaction", `{"message_id":"","emoji":"👍"}`), "reaction.message_id", "must not be empty"},
	{"reaction emoji missing", sendBody("reaction", `{"message_id":"wamid.X"}`), "reaction.emoji", `required: one emoji, or ""`},
	{"reaction emoji not a string", sendBody("reaction", `{"message_id":"wamid.X","emoji":128077}`), "reaction.emoji", "must be a string, got a number"},
	{"reaction of a word", reactionMsg("ok"), "reaction.emoji", `must be one emoji, or "" to remove the reaction, got "ok"`},
	{"reaction of two emoji", reactionMsg("👍👍"), "reaction.emoji", "must be one emoji"},
	{"reaction with a space", reactionMsg(" 👍"), "reaction.emoji", "must be one emoji"},
	{"reaction of a digit", reactionMsg("1"), "reaction.emoji", "must be one emoji"},
	{"reaction of a smiley", reactionMsg(":)"), "reaction.emoji", "must be one emoji"},
	{"reaction ending in ZWJ", reactionMsg("👍\u200d"), "reaction.emoji", "must be one emoji"},
	{"reaction of one regional indicator", reactionMsg("🇩"), "reaction.emoji", "must be one emoji"},
	{"reaction of 11 code points", reactionMsg("👩‍👩‍👧‍👦‍👦‍👦"), "reaction.emoji", "must be one emoji"},
	{"reaction with an open tag sequence", reactionMsg("🏴\U000E0067\U000E0062"), "reaction.emoji", "must be one emoji"},
}

func TestValidateReportsViolations(t *testing.T) {
	for _, tc := range violations {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(decodeBody(t, tc.body))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Validate = %v (%T), want an *InvalidError", err, err)
			}
			if ie.Field != tc.field || !strings.Contains(ie.Rule, tc.rule) {
				t.Errorf("InvalidError{Field: %q, Rule: %q}\nwant field %q and a rule containing %q", ie.Field, ie.Rule, tc.field, tc.rule)
			}
		})
	}
}

func TestValidateRulesAreShort(t *testing.T) {
	// Values quoted in a rule are cut, so a huge value gives a short error.
	long := strings.Repeat("x", 100000)
	err := Validate(decodeBody(t, `{"to":"`+long+`","text":{"body":"hi"}}`))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("Validate = %.300v (%d bytes), want a short error", err, len(err.Error()))
	}
}

func TestValidateIsDeterministic(t *testing.T) {
	// Many violations at once, in objects decoded as maps: the same one is
	// reported every time.
	body := sendBody("interactive", `{"type":"list","body":{"text":""},"footer":{"text":""},"action":{"button":"","sections":[
		{"rows":[{"id":"","title":""}]},{"rows":[{"id":"","title":""}]}]}}`)
	first := Validate(decodeBody(t, body))
	if first == nil {
		t.Fatal("Validate = nil, want an error")
	}
	for range 50 {
		if err := Validate(decodeBody(t, body)); err.Error() != first.Error() {
			t.Fatalf("Validate = %v, earlier %v", err, first)
		}
	}
	if want := "interactive.body.text: must not be empty"; first.Error() != want {
		t.Errorf("Validate = %v, want %s (body before footer and action)", first, want)
	}
}

func TestIsOneEmoji(t *testing.T) {
	for _, s := range []string{"👍", "😀", "👍🏿", "🏽", "❤️", "❤", "☺️", "✅", "⭐", "©️", "#️⃣", "*⃣", "9️⃣", "🇺🇸", "👨‍👩‍👧‍👦", "🧑🏻‍🤝‍🧑🏼", "👩🏽‍❤️‍💋‍👨🏻", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🫠", "🀄"} {
		if !isOneEmoji(s) {
			t.Errorf("isOneEmoji(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "a", "é", "1", "#", "👍👎", "👍 ", "👍a", "\u200d👍", "👍\u200d\u200d👍", "🇺", "🇺🇸🇺", "️", "⃣", "ok👍", "中", "→", "°", "\U000E0067\U000E007F"} {
		if isOneEmoji(s) {
			t.Errorf("isOneEmoji(%q) = true, want false", s)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, tc := range validExamples {
		f.Add([]byte(tc.body))
	}
	for _, tc := range violations {
		if len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		var body map[string]json.RawMessage
		if json.Unmarshal(value, &body) != nil {
			return
		}
		err := Validate(body)
		if err == nil {
			// A valid body stays valid after a round trip through JSON.
			b, merr := json.Marshal(body)
			if merr != nil {
				t.Fatalf("re-encoding a valid body: %v", merr)
			}
			var again map[string]json.RawMessage
			if uerr := json.Unmarshal(b, &again); uerr != nil {
				t.Fatalf("decoding the re-encoded body: %v", uerr)
			}
			if err := Validate(again); err != nil {
				t.Fatalf("Validate after a round trip = %v, was nil", err)
			}
			return
		}
		ie, ok := err.(*InvalidError)
		if !ok {
			t.Fatalf("Validate = %v (%T), want an *InvalidError", err, err)
		}
		if ie.Field == "" && ie.Rule == "" {
			t.Fatal("InvalidError with neither Field nor Rule")
		}
		if ie.Rule == "" {
			t.Errorf("InvalidError{Field: %q} without a rule", ie.Field)
		}
		if err2 := Validate(body); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("Validate is not deterministic: %v, then %v", err, err2)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	for _, name := range []string{"text", "template", "list"} {
		var body map[string]json.RawMessage
		for _, tc := range validExamples {
			if tc.name == name {
				body = decodeBody(b, tc.body)
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Validate(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseCommand is the per-command parse of the outbound path: a
// record's value to the request body, checked.
func BenchmarkParseCommand(b *testing.B) {
	for _, name := range []string{"text", "template"} {
		var value []byte
		for _, tc := range validExamples {
			if tc.name == name {
				value = []byte(tc.body)
			}
		}
		r := &kgo.Record{Topic: "wa.commands", Partition: 1, Offset: 1234, Value: value}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseCommand(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
