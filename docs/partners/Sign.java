// Send a signed request to Rebound's partner ingest with the JDK alone (javax.crypto, java.net.http).
//
//   java Sign.java URL KEY_ID SECRET BODY_FILE [CONTENT_TYPE] ["Header: value" ...]
//
// Java 17 or later runs this file as it is. Prints the HTTP status and the answer's body; exits 0
// on a 2xx answer.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Sign {
    static String signature(String secret, long timestamp, URI uri, byte[] body) throws Exception {
        // The key: SHA-256 of the secret's UTF-8 bytes, as 64 lower-case hex characters, used as ASCII bytes.
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
        byte[] key = HexFormat.of().formatHex(digest).getBytes(StandardCharsets.US_ASCII);
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        // The request target: the path, and "?" and the query if there is one, as they are sent.
        String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
        String target = path + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        // The message: the timestamp in decimal, a full stop, the target, a line feed, then the body's bytes as sent.
        mac.update((timestamp + "." + target + "\n").getBytes(StandardCharsets.US_ASCII));
        return HexFormat.of().formatHex(mac.doFinal(body));
    }

    public static void main(String[] args) throws Exception {
        byte[] body = Files.readAllBytes(Path.of(args[3]));
        long t = System.currentTimeMillis() / 1000;
        URI uri = URI.create(args[0]);
        HttpRequest.Builder request = HttpRequest.newBuilder(uri)
            .header("Rebound-Key-Id", args[1])
            .header("Rebound-Signature", "t=" + t + ",v2=" + signature(args[2], t, uri, body))
            .header("Content-Type", args.length > 4 ? args[4] : "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        for (int i = 5; i < args.length; i++) {
            String[] header = args[i].split(": ", 2);
            request.header(header[0], header[1]);
        }
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> response = client
            .send(request.build(), HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode() + " " + response.body());
        System.exit(response.statusCode() / 100 == 2 ? 0 : 1);
    }
}
